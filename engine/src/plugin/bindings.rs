//! Host bindings of each supported notifier version, and conversions between them and the
//! version-independent [`types`](super::types). A later 0.2 gets a `v0_2` module beside
//! `v0_1`, and the registry picks by the version the component exports.

use std::time::Duration;

use super::types::{Delivery, DeliveryKind, FailureKind, PluginInfo, RateLimit, Receipt};
use crate::filter::format_time;
use crate::model::{Category, Severity};

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

/// The host form of a 0.1 plugin's info; fails when the schema is not JSON or the name is
/// unusable.
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
            info.name
        ));
    }
    let config_schema = serde_json::from_str(&info.config_schema).map_err(|e| {
        format!(
            "plugin '{}' declares a configuration schema that is not JSON: {e}",
            info.name
        )
    })?;
    Ok(PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
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

/// The host form of a 0.1 plugin's send result.
pub(crate) fn outcome_v0_1(
    outcome: Result<n01::Receipt, n01::SendError>,
) -> Result<Receipt, (FailureKind, String)> {
    match outcome {
        Ok(r) => Ok(Receipt {
            remote_id: r.remote_id,
            detail: r.detail,
        }),
        Err(n01::SendError::Retryable(m)) => Err((FailureKind::Retryable, m)),
        Err(n01::SendError::Permanent(m)) => Err((FailureKind::Permanent, m)),
        Err(n01::SendError::RateLimited(r)) => Err((
            FailureKind::RateLimited {
                retry_after: r
                    .retry_after_secs
                    .map(|s| Duration::from_secs(u64::from(s))),
            },
            r.message,
        )),
    }
}
