//! A channel host in process for tests that need channels: one plugin, `chat`, whose
//! configuration has a `room` and a secret `token` (`writeOnly` in its schema), and which
//! keeps the title of every message it is sent.

use std::sync::{Arc, Mutex};

use msghub::delivery::host::{ChannelHost, HostFuture, PartBudget};
use msghub::plugin::{CallError, Delivery, PluginInfo, Receipt, SendError, ValidateError};

pub struct ChatHost {
    info: Arc<PluginInfo>,
    sent: Mutex<Vec<String>>,
}

impl ChatHost {
    pub fn new() -> Arc<ChatHost> {
        Arc::new(ChatHost {
            info: Arc::new(PluginInfo {
                name: "chat".to_owned(),
                version: "1.0.0".to_owned(),
                description: "An in-process channel for tests".to_owned(),
                config_schema: serde_json::json!({
                    "type": "object",
                    "properties": {
                        "room": {"type": "string"},
                        "token": {"type": "string", "writeOnly": true},
                    },
                }),
                hosts: Vec::new(),
                user_supplied_host: false,
                rate_limit: None,
                interface_version: "0.1.0".to_owned(),
            }),
            sent: Mutex::new(Vec::new()),
        })
    }

    /// The titles of the messages sent so far, in order.
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl ChannelHost for ChatHost {
    fn plugins(&self) -> Vec<Arc<PluginInfo>> {
        vec![self.info.clone()]
    }

    fn plugin(&self, plugin: &str) -> Option<Arc<PluginInfo>> {
        (plugin == self.info.name).then(|| self.info.clone())
    }

    fn ready<'a>(&'a self, plugin: &'a str) -> HostFuture<'a, Result<Arc<PluginInfo>, CallError>> {
        let found = self.plugin(plugin);
        Box::pin(async move {
            found.ok_or_else(|| CallError::UnknownPlugin {
                plugin: plugin.to_owned(),
            })
        })
    }

    fn validate_config<'a>(
        &'a self,
        _plugin: &'a str,
        _config: &'a str,
    ) -> HostFuture<'a, Result<(), ValidateError>> {
        Box::pin(async move { Ok(()) })
    }

    fn send<'a>(
        &'a self,
        _plugin: &'a str,
        _config: &'a str,
        delivery: &'a Delivery,
    ) -> HostFuture<'a, Result<Receipt, SendError>> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.extend(delivery.messages.iter().map(|m| m.title.clone()));
        }
        Box::pin(async move { Ok(Receipt::default()) })
    }

    fn part_budget(&self, _plugin: &str) -> PartBudget {
        PartBudget {
            messages: 200,
            bytes: 1 << 20,
        }
    }
}
