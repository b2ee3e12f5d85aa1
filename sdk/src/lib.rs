//! Write [msghub](https://example.invalid/msghub) channel plugins in Rust.
//!
//! A channel plugin turns msghub messages into requests to one service. Implement
//! [`Channel`] for a type, export it with [`export_channel!`], and build the crate as a
//! `cdylib` for `wasm32-wasip2`:
//!
//! ```
//! use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError, export_channel, http};
//! use serde::Deserialize;
//!
//! /// Posts each message as text to a webhook.
//! struct Echo;
//!
//! #[derive(Deserialize)]
//! struct Config {
//!     url: String,
//! }
//!
//! impl Channel for Echo {
//!     type Config = Config;
//!
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("echo", "0.1.0", "Posts each message as text to a webhook.")
//!             .with_config_schema(r#"{"type":"object","required":["url"],"properties":{"url":{"type":"string"}}}"#)
//!             .with_hosts(["hooks.example.com"])
//!     }
//!
//!     fn send(config: Config, delivery: &Delivery) -> Result<Receipt, SendError> {
//!         let text: Vec<String> = delivery.messages.iter().map(|m| m.title.clone()).collect();
//!         let request = http::Request::post(&config.url).body(text.join("\n"));
//!         let response = http::send(&request)?;
//!         response.error_for_status()?;
//!         Ok(Receipt::default())
//!     }
//! }
//!
//! export_channel!(Echo);
//!
//! // The pure parts of a plugin run anywhere, so `cargo test` on the host works:
//! # fn main() {
//! assert_eq!(
//!     Echo::validate_config(r#"{"url": 7}"#).unwrap_err(),
//!     "invalid configuration: invalid type: integer `7`, expected a string at line 1 column 9"
//! );
//! assert!(Echo::validate_config(r#"{"url": "https://hooks.example.com/x"}"#).is_ok());
//! # }
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` and drop the `.wasm` file
//! into the host's plugin directory (`MSGHUB_PLUGIN_DIR`).
//!
//! What the host guarantees and enforces (see the WIT contract, `wit/notifier.wit` in this
//! crate):
//! every call runs in a fresh instance, with a deadline and a memory cap; HTTP reaches only
//! the hosts of [`PluginInfo::hosts`] (or, with [`PluginInfo::user_supplied_host`], public
//! addresses only); there are no files, environment variables or sockets. [`http::send`]
//! reports the host's refusals as they are ([`http::HttpError::is_denied`]).
//!
//! The modules hold what every chat channel needs: [`http`] (requests over `wasi:http`),
//! [`mail`] (SMTP submission through the host), [`log`] (into the host's log), [`sign`]
//! (HMAC-SHA256, Base64) and [`text`] (escaping and truncation).
#![deny(missing_docs)]

mod channel;
pub mod http;
pub mod log;
pub mod mail;
pub mod sign;
pub mod text;
mod types;

pub use channel::Channel;
pub use types::{
    Category, Delivery, DeliveryKind, Message, PluginInfo, RateLimit, RateLimited, Receipt,
    Recipient, SendError, Severity,
};

/// The generated bindings. Plugins use the re-exported types instead; this module exists for
/// the [`export_channel!`] macro.
#[doc(hidden)]
pub mod __private {
    pub use crate::channel::Adapter;

    #[allow(missing_docs, clippy::all, unsafe_op_in_unsafe_fn)]
    pub mod bindings {
        // The crate's own copy of the contract, so that a packaged or copied SDK carries it;
        // tests/wit_matches_repository.rs keeps it equal to the repository's wit/.
        wit_bindgen::generate!({
            path: "wit",
            world: "msghub:notifier/channel@0.1.0",
            generate_all,
            pub_export_macro: true,
            export_macro_name: "__export_channel",
            default_bindings_module: "msghub_sdk::__private::bindings",
            additional_derives: [PartialEq],
            additional_derives_ignore: ["stream-error"],
        });
    }
}

/// Exports a [`Channel`] implementation as the plugin's `notifier` interface.
///
/// Use it once, at the top level of the plugin crate:
///
/// ```
/// # use msghub_sdk::{Channel, Delivery, PluginInfo, Receipt, SendError};
/// struct Quiet;
/// impl Channel for Quiet {
///     type Config = serde_json::Value;
///     fn info() -> PluginInfo { PluginInfo::new("quiet", "0.1.0", "Sends nothing.") }
///     fn send(_: serde_json::Value, _: &Delivery) -> Result<Receipt, SendError> {
///         Ok(Receipt::default())
///     }
/// }
/// msghub_sdk::export_channel!(Quiet);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_channel {
    ($channel:ty) => {
        // The exports exist only in the WebAssembly build: on the host (`cargo test`) their
        // component-model names are not valid native symbol names.
        #[doc(hidden)]
        #[cfg(target_arch = "wasm32")]
        type __MsghubExportedChannel = $crate::__private::Adapter<$channel>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::bindings::__export_channel!(
            __MsghubExportedChannel with_types_in $crate::__private::bindings
        );
        // Checks on every target that the type is a channel.
        const _: fn() = || {
            fn is_channel<C: $crate::Channel>() {}
            is_channel::<$channel>();
        };
    };
}
