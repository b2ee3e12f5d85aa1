//! Host bindings of each supported notifier version, and conversions between them and the
//! version-independent [`types`](super::types). A later 0.2 gets a `v0_2` module beside
//! `v0_1`, and the registry picks by the version the component exports.
//!
//! Every string a plugin hands back passes through here, so this is where it is cut to size
//! before anything stores, logs or returns it: errors and notes to [`TEXT_LIMIT`], short
//! labels to [`LABEL_LIMIT`]; a configuration schema over [`SCHEMA_LIMIT`] refuses the
//! plugin at load.

use std::time::Duration;

use super::types::{Delivery, DeliveryKind, FailureKind, PluginInfo, RateLimit, Receipt};
use crate::filter::format_time;
use crate::model::{Category, Severity};

/// The most bytes kept of a plugin's error message, receipt detail or refusal reason.
pub(crate) const TEXT_LIMIT: usize = 2 << 10;
/// The most bytes kept of a plugin's version, description or remote id.
pub(crate) const LABEL_LIMIT: usize = 256;
/// The largest configuration schema a plugin may declare; a larger one refuses the plugin.
pub(crate) const SCHEMA_LIMIT: usize = 64 << 10;
/// The most hosts a plugin may declare, and the longest host name (DNS allows 253).
const HOSTS_LIMIT: usize = 64;
const HOST_NAME_LIMIT: usize = 253;
/// The reasons the sandbox gives are cut like the plugin's own errors.
pub(crate) const REASON_LIMIT: usize = TEXT_LIMIT;

/// `text` cut to at most `max` bytes on a char boundary, the cut marked with the original
/// size, e.g. `eeee… (cut, 14000000 bytes)`; `text` itself when it fits.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mark = format!("… (cut, {} bytes)", text.len());
    let mut end = max.saturating_sub(mark.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{mark}", &text[..end])
}

/// Cuts `text` in place (see [`cut`]).
fn cut_owned(text: String, max: usize) -> String {
    if text.len() <= max {
        text
    } else {
        cut(&text, max)
    }
}

/// The bindings of `msghub:notifier@0.1.0`.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "msghub:notifier/channel@0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });

    /// The name of the export that marks a 0.1 channel.
    pub(crate) const NOTIFIER_EXPORT: &str = "msghub:notifier/notifier@0.1.0";
}

use v0_1::exports::msghub::notifier::notifier as n01;

fn category(c: Category) -> n01::Category {
    match c {
        Category::Account => n01::Category::Account,
        Category::Product => n01::Category::Product,
        Category::Security => n01::Category::Security,
        Category::Exception => n01::Category::Exception,
        Category::Activity => n01::Category::Activity,
        Category::Service => n01::Category::Service,
    }
}

fn severity(s: Severity) -> n01::Severity {
    match s {
        Severity::Info => n01::Severity::Info,
        Severity::Warning => n01::Severity::Warning,
        Severity::Critical => n01::Severity::Critical,
    }
}

/// The 0.1 form of a delivery.
pub(crate) fn delivery_v0_1(d: &Delivery) -> n01::Delivery {
    n01::Delivery {
        kind: match d.kind {
            DeliveryKind::Single => n01::DeliveryKind::Single,
            DeliveryKind::Digest => n01::DeliveryKind::Digest,
        },
        messages: d
            .messages
            .iter()
            .map(|m| n01::Message {
                id: m.id.to_string(),
                account_id: m.account_id.to_string(),
                category: category(m.category),
                subtype: m.subtype.clone(),
                title: m.title.clone(),
                body: m.body.clone(),
                severity: severity(m.severity),
                link: m.link.clone(),
                resource: m.resource.clone(),
                created_at: format_time(m.created_at),
            })
            .collect(),
        recipients: d
            .recipients
            .iter()
            .map(|r| n01::Recipient {
                address: r.address.clone(),
                name: r.name.clone(),
            })
            .collect(),
        attempt: d.attempt,
        idempotency_key: d.idempotency_key.clone(),
        locale: d.locale.clone(),
        timestamp_ms: d.timestamp_ms,
    }
}

/// The host form of a 0.1 plugin's info; fails when the name is unusable, or the schema is
/// not JSON or too large, or the hosts are too many or too long. Version and description
/// are cut to [`LABEL_LIMIT`].
pub(crate) fn info_v0_1(info: n01::PluginInfo) -> Result<PluginInfo, String> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!(
            "plugin name '{}' must be 1 to 64 characters of a-z, 0-9, '-' and '_'",
            cut(&info.name, LABEL_LIMIT)
        ));
    }
    let name = &info.name;
    if info.config_schema.len() > SCHEMA_LIMIT {
        return Err(format!(
            "plugin '{name}' declares a configuration schema of {} bytes; at most {SCHEMA_LIMIT} \
             bytes are accepted",
            info.config_schema.len()
        ));
    }
    if info.hosts.len() > HOSTS_LIMIT {
        return Err(format!(
            "plugin '{name}' declares {} hosts; at most {HOSTS_LIMIT} are accepted (use \
             `*.example.com` for subdomains)",
            info.hosts.len()
        ));
    }
    if let Some(long) = info.hosts.iter().find(|h| h.len() > HOST_NAME_LIMIT) {
        return Err(format!(
            "plugin '{name}' declares a host of {} bytes ('{}'); a host name has at most \
             {HOST_NAME_LIMIT}",
            long.len(),
            cut(long, 64)
        ));
    }
    let config_schema = serde_json::from_str(&info.config_schema).map_err(|e| {
        format!("plugin '{name}' declares a configuration schema that is not JSON: {e}")
    })?;
    Ok(PluginInfo {
        name: info.name,
        version: cut_owned(info.version, LABEL_LIMIT),
        description: cut_owned(info.description, LABEL_LIMIT),
        config_schema,
        hosts: info.hosts,
        user_supplied_host: info.user_supplied_host,
        rate_limit: info.rate_limit.map(|r| RateLimit {
            count: r.count,
            period: Duration::from_secs(u64::from(r.period_secs)),
        }),
        interface_version: "0.1.0".to_owned(),
    })
}

/// The host form of a 0.1 plugin's verdict on a configuration, its error cut to
/// [`TEXT_LIMIT`].
pub(crate) fn verdict_v0_1(verdict: Result<(), String>) -> Result<(), String> {
    verdict.map_err(|m| cut_owned(m, TEXT_LIMIT))
}

/// The host form of a 0.1 plugin's send result, its strings cut to size.
pub(crate) fn outcome_v0_1(
    outcome: Result<n01::Receipt, n01::SendError>,
) -> Result<Receipt, (FailureKind, String)> {
    let text = |m: String| cut_owned(m, TEXT_LIMIT);
    match outcome {
        Ok(r) => Ok(Receipt {
            remote_id: r.remote_id.map(|id| cut_owned(id, LABEL_LIMIT)),
            detail: r.detail.map(text),
        }),
        Err(n01::SendError::Retryable(m)) => Err((FailureKind::Retryable, text(m))),
        Err(n01::SendError::Permanent(m)) => Err((FailureKind::Permanent, text(m))),
        Err(n01::SendError::RateLimited(r)) => Err((
            FailureKind::RateLimited {
                retry_after: r
                    .retry_after_secs
                    .map(|s| Duration::from_secs(u64::from(s))),
            },
            text(r.message),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn giant_info(schema: String) -> n01::PluginInfo {
        n01::PluginInfo {
            name: "giant".to_owned(),
            version: "1".repeat(3 << 20),
            description: "é".repeat(1 << 20),
            config_schema: schema,
            hosts: Vec::new(),
            user_supplied_host: false,
            rate_limit: None,
        }
    }

    #[test]
    fn a_schema_over_the_limit_refuses_the_plugin_naming_the_size() {
        let schema = format!(r#"{{"description": "{}"}}"#, "x".repeat(3 << 20));
        let e = info_v0_1(giant_info(schema.clone())).unwrap_err();
        assert_eq!(
            e,
            format!(
                "plugin 'giant' declares a configuration schema of {} bytes; at most 65536 \
                 bytes are accepted",
                schema.len()
            )
        );
    }

    #[test]
    fn giant_labels_are_cut_on_a_char_boundary_and_marked() {
        let info = info_v0_1(giant_info("{}".to_owned())).expect("a usable description");
        assert!(info.version.len() <= LABEL_LIMIT, "{}", info.version.len());
        assert!(
            info.version.ends_with("… (cut, 3145728 bytes)"),
            "{}",
            info.version
        );
        assert!(info.description.len() <= LABEL_LIMIT);
        assert!(info.description.starts_with("éé"));
        assert!(info.description.ends_with("… (cut, 2097152 bytes)"));
    }

    #[test]
    fn a_giant_send_error_is_cut_to_the_text_limit() {
        let giant = "e".repeat(14_000_000);
        let (_, message) = outcome_v0_1(Err(n01::SendError::Permanent(giant))).unwrap_err();
        assert!(message.len() <= TEXT_LIMIT, "{}", message.len());
        assert!(message.ends_with("e… (cut, 14000000 bytes)"), "{message}");
    }
}
