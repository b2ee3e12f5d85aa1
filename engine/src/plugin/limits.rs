//! What a plugin may use in one call: the operator's caps, and what the plugin states it
//! needs.
//!
//! A plugin states its needs in its configuration schema, in one annotation at the top
//! level, which JSON Schema validators ignore and old hosts never read, so that stating them
//! changes nothing in the WIT contract of `msghub:notifier@0.1.0`:
//!
//! ```json
//! {"type": "object", "properties": {},
//!  "x-msghub-needs": {"memory-mib": 64, "deadline-ms": 20000, "batch": 50}}
//! ```
//!
//! Each need is granted up to the operator's cap for the plugin
//! ([`PluginConfig::caps_for`]): the operator's cap wins. A plugin that states less gets
//! less; one that states more gets the cap, and its load logs how to grant it more.
//! `batch` is the most messages one digest call may carry, at most [`MAX_BATCH`].

use std::time::Duration;

use serde_json::Value;

use super::config::PluginConfig;
use super::types::PluginLimits;

/// The schema annotation that states a plugin's needs.
pub(crate) const NEEDS_KEY: &str = "x-msghub-needs";

/// The most messages one digest call carries, whatever a plugin states.
pub const MAX_BATCH: usize = 200;

/// What a plugin states it needs; `None` where it states nothing.
#[derive(Debug, Default, PartialEq, Eq)]
struct Needs {
    memory: Option<usize>,
    deadline: Option<Duration>,
    batch: Option<usize>,
}

/// Reads the needs a plugin states in its configuration schema; the reason when they are
/// unusable.
fn needs(schema: &Value) -> Result<Needs, String> {
    let Some(stated) = schema.get(NEEDS_KEY) else {
        return Ok(Needs::default());
    };
    let Some(stated) = stated.as_object() else {
        return Err(format!("`{NEEDS_KEY}` must be an object"));
    };
    let number = |key: &str, max: u64| -> Result<Option<u64>, String> {
        match stated.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=max).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    format!("`{NEEDS_KEY}.{key}` must be a whole number from 1 to {max}")
                }),
        }
    };
    if let Some(unknown) = stated
        .keys()
        .find(|k| !["memory-mib", "deadline-ms", "batch"].contains(&k.as_str()))
    {
        return Err(format!(
            "`{NEEDS_KEY}` has an unknown field '{}'; it takes memory-mib, deadline-ms and batch",
            super::bindings::cut(unknown, 64)
        ));
    }
    Ok(Needs {
        memory: number("memory-mib", 4096)?.map(|mib| (mib as usize) << 20),
        deadline: number("deadline-ms", 600_000)?.map(Duration::from_millis),
        batch: number("batch", MAX_BATCH as u64)?.map(|n| n as usize),
    })
}

/// The limits of plugin `name` whose configuration schema is `schema`, under `config`; the
/// reason when its stated needs are unusable.
pub(crate) fn limits(
    config: &PluginConfig,
    name: &str,
    schema: &Value,
) -> Result<PluginLimits, String> {
    let needs = needs(schema)?;
    let (memory_cap, deadline_cap) = config.caps_for(name);
    let mut short = Vec::new();
    if let Some(memory) = needs.memory.filter(|m| *m > memory_cap) {
        short.push(format!(
            "{} MiB of memory (the cap is {} MiB; grant it with MSGHUB_PLUGIN_LIMITS=\
             {name}.memory-mib={})",
            memory >> 20,
            memory_cap >> 20,
            memory >> 20
        ));
    }
    if let Some(deadline) = needs.deadline.filter(|d| *d > deadline_cap) {
        short.push(format!(
            "{} ms per call (the deadline is {} ms; grant it with MSGHUB_PLUGIN_LIMITS=\
             {name}.deadline-ms={})",
            deadline.as_millis(),
            deadline_cap.as_millis(),
            deadline.as_millis()
        ));
    }
    Ok(PluginLimits {
        memory: needs.memory.map_or(memory_cap, |m| m.min(memory_cap)),
        deadline: needs.deadline.map_or(deadline_cap, |d| d.min(deadline_cap)),
        batch: needs.batch.unwrap_or(MAX_BATCH),
        short: (!short.is_empty()).then(|| short.join(" and ")),
    })
}

/// The limits of a plugin not described yet (its `info` call at load), known by the name it
/// is expected to have: the operator's caps for that name.
pub(crate) fn before_info(config: &PluginConfig, expected: &str) -> PluginLimits {
    let (memory, deadline) = config.caps_for(expected);
    PluginLimits {
        memory,
        deadline,
        batch: MAX_BATCH,
        short: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plugin_gets_what_it_states_up_to_the_operators_cap() {
        let mut config = PluginConfig::default();
        config.plugin_caps.insert(
            "big".to_owned(),
            super::super::config::PluginCaps {
                memory_limit: Some(64 << 20),
                call_deadline: None,
            },
        );
        let schema =
            json!({"x-msghub-needs": {"memory-mib": 48, "deadline-ms": 2000, "batch": 20}});
        let big = limits(&config, "big", &schema).unwrap();
        assert_eq!(big.memory, 48 << 20);
        assert_eq!(big.deadline, Duration::from_secs(2));
        assert_eq!(big.batch, 20);
        assert_eq!(big.short, None);
        let other = limits(&config, "other", &schema).unwrap();
        assert_eq!(other.memory, 16 << 20, "the operator's cap wins");
        let short = other.short.unwrap();
        assert!(
            short.contains("48 MiB") && short.contains("MSGHUB_PLUGIN_LIMITS=other.memory-mib=48"),
            "{short}"
        );
    }

    #[test]
    fn a_plugin_that_states_nothing_gets_the_caps() {
        let config = PluginConfig::default();
        let plain = limits(&config, "plain", &json!({"type": "object"})).unwrap();
        assert_eq!(plain, before_info(&config, "plain"));
        assert_eq!(plain.batch, MAX_BATCH);
    }

    #[test]
    fn unusable_needs_are_refused_with_the_field() {
        let config = PluginConfig::default();
        for (schema, field) in [
            (json!({"x-msghub-needs": 64}), "must be an object"),
            (
                json!({"x-msghub-needs": {"memory-mib": "lots"}}),
                "memory-mib",
            ),
            (json!({"x-msghub-needs": {"batch": 201}}), "batch"),
            (json!({"x-msghub-needs": {"cpu": 2}}), "'cpu'"),
        ] {
            let e = limits(&config, "p", &schema).unwrap_err();
            assert!(e.contains(field), "{e}");
        }
    }
}
