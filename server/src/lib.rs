//! The msghub server and command line: the HTTP API of `API.md` over the `msghub` engine,
//! the embedded web console, and the `msghub` commands.
//!
//! # Map
//!
//! - [`config`]: the TOML file, the `MSGHUB_*` variables and the flags, into one
//!   [`ServerConfig`].
//! - [`server`]: [`start`] opens the data directory (operator token, redb file), the
//!   engine and the plugins, binds the listener and serves until its shutdown future
//!   resolves.
//! - [`api`]: the router, one module per resource; each handler parses, calls one engine
//!   method, and maps the answer. The OpenAPI document comes from the same handlers.
//! - [`extract`]: the extractors that turn malformed input into the contract's 400s.
//! - [`error`]: [`ApiError`], the contract's error shape, and the engine error mapping.
//! - [`markdown`]: message bodies rendered and sanitized as HTML for the console.
//! - [`metrics`]: the Prometheus registry served at `/metrics`.
//! - [`state`]: what handlers share.
//! - [`cli`]: the commands of the `msghub` binary other than `serve`.
//!
//! # How a request flows
//!
//! `api::track` gives it a request id and a span; axum routes it; the handler's extractors
//! authenticate the bearer token into a `Principal` and decode the body or query; the
//! engine decides what the principal may do and does it; the handler maps the result (or
//! the engine's error, whose `code()` picks the status) to JSON; `track` records the
//! metrics by route template.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), msghub_server::server::ServeError> {
//! let running = msghub_server::start(
//!     msghub_server::ServerConfig::ephemeral(),
//!     async { let _ = tokio::signal::ctrl_c().await; },
//! ).await?;
//! println!("serving on http://{}", running.addr);
//! running.wait().await
//! # }
//! ```

#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod markdown;
pub mod metrics;
pub mod server;
pub mod state;

pub use config::ServerConfig;
pub use error::ApiError;
pub use server::{Running, start};
