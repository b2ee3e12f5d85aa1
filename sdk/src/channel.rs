//! The trait a plugin implements, and the adapter that turns it into the generated exports.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::__private::bindings::exports::msghub::notifier::notifier::Guest;
use crate::{Delivery, PluginInfo, Receipt, SendError};

/// A channel: what a plugin implements. Each call runs in a fresh instance, so there is no
/// `self`: anything a call needs comes from its arguments.
pub trait Channel {
    /// The channel configuration, parsed from the JSON object the user saved
    /// (`serde_json::Value` to take it as it is).
    type Config: DeserializeOwned;

    /// Describes the plugin: name, version, configuration schema, hosts, rate limit.
    fn info() -> PluginInfo;

    /// Checks a configuration that parsed as [`Channel::Config`]; the default accepts every
    /// one. Return a message that names the field and what is wrong with it.
    fn check_config(config: &Self::Config) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Delivers one attempt.
    fn send(config: Self::Config, delivery: &Delivery) -> Result<Receipt, SendError>;

    /// Parses and checks a configuration, as the host's `validate-config` call does.
    fn validate_config(config: &str) -> Result<(), String> {
        Self::check_config(&parse_config::<Self::Config>(config)?)
    }
}

fn parse_config<C: DeserializeOwned>(config: &str) -> Result<C, String> {
    serde_json::from_str(config).map_err(|e| format!("invalid configuration: {e}"))
}

/// Implements the generated `Guest` trait for any [`Channel`]; used by [`crate::export_channel!`].
#[doc(hidden)]
pub struct Adapter<C>(PhantomData<C>);

impl<C: Channel + 'static> Guest for Adapter<C> {
    fn info() -> PluginInfo {
        C::info()
    }

    fn validate_config(config: String) -> Result<(), String> {
        C::validate_config(&config)
    }

    fn send(config: String, delivery: Delivery) -> Result<Receipt, SendError> {
        // The host validated the configuration when it was saved; a configuration that no
        // longer parses (an older plugin version wrote it) cannot be mended by retrying.
        let config = parse_config::<C::Config>(&config).map_err(SendError::Permanent)?;
        C::check_config(&config).map_err(SendError::Permanent)?;
        C::send(config, &delivery)
    }
}
