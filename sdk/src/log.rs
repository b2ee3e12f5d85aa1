//! Log lines into the host's log, tagged with the plugin's name. Never log secrets.
//!
//! Outside the host (plain `cargo test`) lines go to standard error.

use crate::__private::bindings::msghub::notifier::log::Level;

fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__private::bindings::msghub::notifier::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Logs fine detail.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Logs a normal event.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Logs something unexpected that the plugin handled.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Logs a failure.
pub fn error(message: &str) {
    write(Level::Error, message);
}
