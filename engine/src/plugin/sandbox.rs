//! The state of one call's `Store`: what a plugin instance can see and use.
//!
//! A fresh [`CallState`] is made for every call. Its WASI context is empty: no preopened
//! directories, no environment variables, no arguments, no TCP or UDP, no name lookups;
//! stdout and stderr go line by line into the log (and the last lines into the call's
//! error, so a panic message reaches the delivery log). Memory is capped by a
//! `StoreLimits` with `trap_on_grow_failure`, wrapped to remember that the cap was hit;
//! the host resources a call holds are capped by the resource table's capacity and the
//! header maps' size limit. The `log` and `mail` imports are implemented here.
//!
//! Everything a plugin writes into the log (stdout, stderr, `log`) shares one budget per
//! call, [`LOG_LINES`] lines (empty ones count) and [`LOG_BYTES`] bytes, then one "log
//! truncated" line; and it is escaped, so that a plugin can never write a line of its own
//! making: `\n`, `\r` and the other control characters appear as escapes.

use std::borrow::Cow;
use std::collections::HashSet;
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

use super::bindings::cut;
use super::bindings::v0_1::msghub::notifier::{log, mail};
use super::config::PluginConfig;
use super::http::{PluginHttp, Refusals};
use super::mail::Mailer;

/// How much of a call's output is kept for its error message.
const OUTPUT_TAIL: usize = 2048;
/// How many lines one call may write into the log (stdout, stderr and `log` together,
/// empty lines too); the rest are dropped.
pub(crate) const LOG_LINES: u32 = 200;
/// How many bytes one call may write into the log; the rest is dropped.
pub(crate) const LOG_BYTES: usize = 64 * 1024;
/// The longest log line kept.
const LOG_LINE: usize = 4096;
/// The most recipients one `send` may mail, over all its submissions.
pub(crate) const MAIL_RECIPIENTS: usize = 100;

/// What a call leaves behind for its error message, readable after the store is gone.
pub(crate) struct CallTrace {
    /// Requests the sandbox refused, with the reason.
    pub(crate) refusals: Refusals,
    /// The last bytes written to stdout and stderr.
    output: Mutex<Output>,
    /// Whether the memory cap stopped a growth.
    memory_exhausted: AtomicBool,
    /// Where the call's log lines go: the subscriber and span of the caller that started
    /// the call. The plugin's output is written by tasks and threads of the plugin host,
    /// which know neither.
    dispatch: tracing::Dispatch,
    span: tracing::Span,
}

#[derive(Default)]
struct Output {
    tail: String,
    lines: u32,
    bytes: usize,
    truncated: bool,
}

/// How important a log line is, whichever way the plugin wrote it.
#[derive(Clone, Copy)]
enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// `text` with `\n`, `\r`, `\t`, every other control character and the Unicode line
/// separators escaped, so that it cannot start or forge a log line.
pub(crate) fn escape_log(text: &str) -> Cow<'_, str> {
    let special = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !text.chars().any(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if special(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

impl CallTrace {
    /// A trace whose log lines go to the current subscriber, inside the current span.
    pub(crate) fn new() -> CallTrace {
        CallTrace {
            refusals: Refusals::default(),
            output: Mutex::default(),
            memory_exhausted: AtomicBool::default(),
            dispatch: tracing::dispatcher::get_default(tracing::Dispatch::clone),
            span: tracing::Span::current(),
        }
    }

    /// The subscriber the call's log lines go to.
    pub(crate) fn dispatch(&self) -> &tracing::Dispatch {
        &self.dispatch
    }

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

    /// Writes one line of the plugin's into the log, within the call's budget, escaped;
    /// `stream` names stdout or stderr, `None` for the `log` import. Output lines are also
    /// kept in the tail for the call's error.
    fn log_line(&self, plugin: &str, stream: Option<&'static str>, level: Level, text: &str) {
        let Ok(mut output) = self.output.lock() else {
            return;
        };
        if stream.is_some() {
            output.tail.push_str(text);
            output.tail.push('\n');
            if output.tail.len() > OUTPUT_TAIL {
                let mut from = output.tail.len() - OUTPUT_TAIL;
                while !output.tail.is_char_boundary(from) {
                    from += 1;
                }
                output.tail.drain(..from);
            }
        }
        output.lines = output.lines.saturating_add(1);
        // An empty line costs a byte too, as it does in the log.
        output.bytes = output.bytes.saturating_add(text.len().max(1));
        if output.lines > LOG_LINES || output.bytes > LOG_BYTES {
            if !output.truncated {
                output.truncated = true;
                self.emit(|| {
                    tracing::warn!(
                        plugin,
                        "log truncated: the plugin wrote more than {LOG_LINES} lines or \
                         {LOG_BYTES} bytes in this call; the rest of this call's output is \
                         dropped"
                    )
                });
            }
            return;
        }
        drop(output);
        let text = escape_log(&cut(text, LOG_LINE)).into_owned();
        self.emit(|| match (level, stream) {
            (_, Some(stream)) => tracing::info!(plugin, stream, "{text}"),
            (Level::Trace, None) => tracing::trace!(plugin, "{text}"),
            (Level::Debug, None) => tracing::debug!(plugin, "{text}"),
            (Level::Info, None) => tracing::info!(plugin, "{text}"),
            (Level::Warn, None) => tracing::warn!(plugin, "{text}"),
            (Level::Error, None) => tracing::error!(plugin, "{text}"),
        });
    }

    /// Emits a log event where the caller of the call would have.
    fn emit(&self, event: impl FnOnce()) {
        tracing::dispatcher::with_default(&self.dispatch, || self.span.in_scope(event));
    }
}

/// Whether a call may send mail, and to whom.
pub(crate) enum MailGrant {
    /// No mail in this call, for this reason (shown to the plugin).
    Denied(String),
    /// Mail to these addresses (lowercase), at most `left` more recipients.
    Granted {
        /// The delivery's recipients and the addresses its channel's configuration names.
        allowed: HashSet<String>,
        /// Recipients the call may still mail.
        left: usize,
        /// The unsubscribe headers the host writes into every mail of the call.
        unsubscribe: Option<crate::plugin::MailUnsubscribe>,
    },
}

impl MailGrant {
    /// Takes `to` out of the grant; the reason when the call may not mail them.
    fn take(&mut self, to: &[String]) -> Result<(), String> {
        match self {
            MailGrant::Denied(reason) => Err(reason.clone()),
            MailGrant::Granted { allowed, left, .. } => {
                if let Some(stranger) = to.iter().find(|a| !allowed.contains(&a.to_lowercase())) {
                    return Err(format!(
                        "'{}' is neither a recipient of this delivery nor named in the \
                         channel's configuration; mail goes only to those",
                        cut(stranger, 256)
                    ));
                }
                if to.len() > *left {
                    return Err(format!(
                        "one delivery may mail at most {MAIL_RECIPIENTS} recipients; use a \
                         mailing list for more"
                    ));
                }
                *left -= to.len();
                Ok(())
            }
        }
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
    mail: MailGrant,
    trace: Arc<CallTrace>,
}

impl CallState {
    pub(crate) fn new(
        plugin: Arc<str>,
        http: PluginHttp,
        (mailer, mail): (Arc<Mailer>, MailGrant),
        config: &PluginConfig,
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
            trace: trace.clone(),
        };
        // The guest holds 4-byte handles while the host holds the data: count the handles,
        // and bound each header map, so a call's host memory has a ceiling.
        let mut table = ResourceTable::new();
        table.set_max_capacity(config.max_handles_per_call);
        let mut http_ctx = WasiHttpCtx::new();
        http_ctx.set_field_size_limit(config.header_bytes_per_map);
        CallState {
            wasi,
            table,
            http_ctx,
            http,
            limits,
            plugin,
            mailer,
            mail,
            trace,
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
        self.output.trace.log_line(
            &self.output.plugin,
            Some(self.output.stream),
            Level::Info,
            &text,
        );
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
        let level = match level {
            log::Level::Trace => Level::Trace,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        self.trace.log_line(&self.plugin, None, level, &message);
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
        if let Err(reason) = self.mail.take(&to) {
            tracing::warn!(plugin = &*self.plugin, reason = %escape_log(&reason), "mail refused by the sandbox");
            return Ok(Err(mail::MailError::Permanent(reason)));
        }
        let unsubscribe = match &self.mail {
            MailGrant::Granted { unsubscribe, .. } => unsubscribe.clone(),
            MailGrant::Denied(_) => None,
        };
        let outcome = self
            .mailer
            .submit(&to, &message, unsubscribe.as_ref())
            .await;
        if let Err(e) = &outcome {
            tracing::warn!(plugin = &*self.plugin, error = %escape_log(&format!("{e:?}")), "mail submission failed");
        }
        Ok(outcome)
    }
}
