//! The state of one call's `Store`: what a plugin instance can see and use.
//!
//! A fresh [`CallState`] is made for every call. Its WASI context is empty: no preopened
//! directories, no environment variables, no arguments, no TCP or UDP, no name lookups;
//! stdout and stderr go line by line into the log (and the last lines into the call's
//! error, so a panic message reaches the delivery log). Memory is capped by a
//! `StoreLimits` with `trap_on_grow_failure`, wrapped to remember that the cap was hit.
//! The `log` and `mail` imports are implemented here.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::v0_1::msghub::notifier::{log, mail};
use super::http::{PluginHttp, Refusals};
use super::mail::Mailer;

/// How much of a call's output is kept for its error message.
const OUTPUT_TAIL: usize = 2048;
/// How much output one call may write into the log; the rest is dropped.
const OUTPUT_BUDGET: usize = 64 * 1024;
/// How many `log` lines one call may write; the rest are dropped.
const LOG_LINES: u32 = 200;
/// The longest `log` line kept.
const LOG_LINE: usize = 4096;

/// What a call leaves behind for its error message, readable after the store is gone.
#[derive(Default)]
pub(crate) struct CallTrace {
    /// Requests the sandbox refused, with the reason.
    pub(crate) refusals: Refusals,
    /// The last bytes written to stdout and stderr.
    output: Mutex<Output>,
    /// Whether the memory cap stopped a growth.
    memory_exhausted: AtomicBool,
}

#[derive(Default)]
struct Output {
    tail: String,
    written: usize,
}

impl CallTrace {
    pub(crate) fn memory_exhausted(&self) -> bool {
        self.memory_exhausted.load(Ordering::Relaxed)
    }

    /// The last lines the plugin printed, trimmed.
    pub(crate) fn output_tail(&self) -> String {
        self.output
            .lock()
            .map(|o| o.tail.trim().to_owned())
            .unwrap_or_default()
    }

    pub(crate) fn refusals(&self) -> Vec<String> {
        self.refusals.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// The data of one call's `Store`.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    http: PluginHttp,
    limits: CallLimits,
    plugin: Arc<str>,
    mailer: Arc<Mailer>,
    log_lines: u32,
}

impl CallState {
    pub(crate) fn new(
        plugin: Arc<str>,
        http: PluginHttp,
        mailer: Arc<Mailer>,
        memory_limit: usize,
        trace: Arc<CallTrace>,
    ) -> Self {
        let output = |stream| LogOutput {
            plugin: plugin.clone(),
            stream,
            trace: trace.clone(),
        };
        let wasi = WasiCtxBuilder::new()
            .stdout(output("stdout"))
            .stderr(output("stderr"))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = CallLimits {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            trace,
        };
        CallState {
            wasi,
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http,
            limits,
            plugin,
            mailer,
            log_lines: 0,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

/// `StoreLimits` that remembers whether the memory cap stopped a growth, so the error can
/// say "memory cap" rather than a bare trap.
struct CallLimits {
    inner: StoreLimits,
    trace: Arc<CallTrace>,
}

impl ResourceLimiter for CallLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        if !matches!(allowed, Ok(true)) {
            self.trace.memory_exhausted.store(true, Ordering::Relaxed);
        }
        allowed
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A plugin's stdout or stderr: each line goes into the log, the last ones into the trace.
#[derive(Clone)]
struct LogOutput {
    plugin: Arc<str>,
    stream: &'static str,
    trace: Arc<CallTrace>,
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            output: self.clone(),
            line: Vec::new(),
        })
    }
}

struct LineWriter {
    output: LogOutput,
    line: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        let Ok(mut output) = self.output.trace.output.lock() else {
            return;
        };
        if output.written > OUTPUT_BUDGET {
            return;
        }
        output.written += text.len();
        tracing::info!(
            plugin = &*self.output.plugin,
            stream = self.output.stream,
            "{text}"
        );
        output.tail.push_str(&text);
        output.tail.push('\n');
        if output.tail.len() > OUTPUT_TAIL {
            let mut cut = output.tail.len() - OUTPUT_TAIL;
            while !output.tail.is_char_boundary(cut) {
                cut += 1;
            }
            output.tail.drain(..cut);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' {
                self.emit();
            } else if self.line.len() < LOG_LINE {
                self.line.push(byte);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.line.is_empty() {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > LOG_LINES {
            return Ok(());
        }
        let mut message = message;
        if message.len() > LOG_LINE {
            let mut cut = LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }
}

impl mail::Host for CallState {
    async fn sender(&mut self) -> wasmtime::Result<String> {
        Ok(self.mailer.sender().to_owned())
    }

    async fn submit(
        &mut self,
        to: Vec<String>,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<String, mail::MailError>> {
        let outcome = self.mailer.submit(&to, &message).await;
        if let Err(e) = &outcome {
            tracing::warn!(plugin = &*self.plugin, error = ?e, "mail submission failed");
        }
        Ok(outcome)
    }
}
