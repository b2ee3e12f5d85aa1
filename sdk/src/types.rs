//! The contract's types, re-exported from the generated bindings, with the constructors and
//! names a plugin needs.

use crate::__private::bindings::exports::msghub::notifier::notifier;

pub use notifier::{
    Category, Delivery, DeliveryKind, Message, PluginInfo, RateLimit, RateLimited, Receipt,
    Recipient, SendError, Severity,
};

impl PluginInfo {
    /// A description with no configuration (schema `{"type":"object"}`), no hosts and no
    /// rate limit; add them with the `with_*` methods.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        PluginInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            config_schema: r#"{"type":"object"}"#.to_owned(),
            hosts: Vec::new(),
            user_supplied_host: false,
            rate_limit: None,
        }
    }

    /// Sets the JSON Schema of the configuration (mark secrets with `"writeOnly": true`).
    pub fn with_config_schema(mut self, schema: &str) -> Self {
        self.config_schema = schema.to_owned();
        self
    }

    /// Sets the hosts the plugin may reach (`*.example.com` allows subdomains).
    pub fn with_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Declares that the target host comes from the user's configuration: any public
    /// address may be reached, private and loopback ones may not.
    pub fn with_user_supplied_host(mut self) -> Self {
        self.user_supplied_host = true;
        self
    }

    /// Sets the target's limit: `count` notifications per `period_secs` seconds.
    pub fn with_rate_limit(mut self, count: u32, period_secs: u32) -> Self {
        self.rate_limit = Some(RateLimit { count, period_secs });
        self
    }
}

#[allow(clippy::derivable_impls)] // the type is generated; the derive is not ours to add
impl Default for Receipt {
    fn default() -> Self {
        Receipt {
            remote_id: None,
            detail: None,
        }
    }
}

impl SendError {
    /// A passing failure: the host retries with backoff.
    pub fn retryable(message: impl Into<String>) -> Self {
        SendError::Retryable(message.into())
    }

    /// A failure that retrying cannot mend.
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError::Permanent(message.into())
    }

    /// The target throttled the sender; `retry_after_secs` as the target said, if it did.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: Option<u32>) -> Self {
        SendError::RateLimited(RateLimited {
            retry_after_secs,
            message: message.into(),
        })
    }

    /// The message meant for a person, whatever the kind of failure.
    pub fn message(&self) -> &str {
        match self {
            SendError::Retryable(m) | SendError::Permanent(m) => m,
            SendError::RateLimited(r) => &r.message,
        }
    }
}

impl Category {
    /// The category's name in the API, e.g. `security`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Account => "account",
            Category::Product => "product",
            Category::Security => "security",
            Category::Exception => "exception",
            Category::Activity => "activity",
            Category::Service => "service",
        }
    }

    /// The category's name for people, in `locale` (`zh-CN`, anything else is English).
    pub fn label(&self, locale: &str) -> &'static str {
        let chinese = locale.eq_ignore_ascii_case("zh-CN");
        match (self, chinese) {
            (Category::Account, false) => "Account",
            (Category::Account, true) => "账号",
            (Category::Product, false) => "Product",
            (Category::Product, true) => "产品",
            (Category::Security, false) => "Security",
            (Category::Security, true) => "安全",
            (Category::Exception, false) => "Exception",
            (Category::Exception, true) => "故障",
            (Category::Activity, false) => "Activity",
            (Category::Activity, true) => "活动",
            (Category::Service, false) => "Service",
            (Category::Service, true) => "服务",
        }
    }
}

impl Severity {
    /// The severity's name in the API, e.g. `critical`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity's name for people, in `locale` (`zh-CN`, anything else is English).
    pub fn label(&self, locale: &str) -> &'static str {
        let chinese = locale.eq_ignore_ascii_case("zh-CN");
        match (self, chinese) {
            (Severity::Info, false) => "Info",
            (Severity::Info, true) => "通知",
            (Severity::Warning, false) => "Warning",
            (Severity::Warning, true) => "警告",
            (Severity::Critical, false) => "Critical",
            (Severity::Critical, true) => "严重",
        }
    }
}
