//! One call into a plugin: a fresh store with the sandbox's state, the memory cap and the
//! epoch deadline, run on threads of the plugin host's own under a deadline, and the error
//! that says how it ended when it did not answer.
//!
//! Calls never run on the caller's runtime: guest code, however long it spins, leaves the
//! API, the health checks and the caller's other tasks free, and the operating system
//! shares the cores between the two runtimes. Within the plugin host's runtime guest code
//! yields at every epoch tick, behind the calls waiting for I/O.

use std::sync::Arc;

use wasmtime::component::ResourceTableError;
use wasmtime::{Store, Trap};

use super::bindings::v0_1;
use super::bindings::v0_1::exports::msghub::notifier::notifier as n01;
use super::error::{CallError, CallKind};
use super::http::{CallQuota, PluginHttp, RequestGuard};
use super::registry::Inner;
use super::sandbox::{CallState, CallTrace, MAIL_RECIPIENTS, MailGrant};
use super::types::PluginLimits;

/// The threads guest code runs on, one per core, shared by every registry of the process:
/// a runtime of their own, so that plugins spinning on every one of them leave the caller's
/// runtime free, and the operating system shares the cores between the two.
pub(super) fn plugin_runtime() -> Result<&'static tokio::runtime::Runtime, &'static String> {
    static RUNTIME: std::sync::OnceLock<Result<tokio::runtime::Runtime, String>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("msghub-plugin")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the plugin host's threads: {e}"))
        })
        .as_ref()
}

/// A spawned call that is stopped when its caller stops waiting for it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a call asks of the plugin.
pub(super) enum Request {
    Info,
    Validate(String),
    /// The channel's configuration, the delivery as the plugin sees it, and the
    /// unsubscribe headers the host writes into its mail (never shown to the plugin).
    Send(
        String,
        Box<n01::Delivery>,
        Option<super::types::MailUnsubscribe>,
    ),
}

/// What the plugin answered.
pub(super) enum Answer {
    Info(n01::PluginInfo),
    Validate(Result<(), String>),
    Send(Result<n01::Receipt, n01::SendError>),
}

impl Request {
    fn kind(&self) -> CallKind {
        match self {
            Request::Info => CallKind::Info,
            Request::Validate(_) => CallKind::ValidateConfig,
            Request::Send(..) => CallKind::Send,
        }
    }
}

/// Where a call failed.
enum Stage {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

impl Inner {
    /// Runs one call on the plugin host's own threads ([`plugin_runtime`]), so that guest
    /// code, however long it spins, never holds a thread of the caller's runtime (the API,
    /// health checks, the writer's callers). The caller's log subscriber and span follow
    /// the call; dropping the returned future stops the call.
    pub(super) async fn run_apart(
        self: &Arc<Self>,
        plugin: Arc<str>,
        pre: v0_1::ChannelPre<CallState>,
        guard: RequestGuard,
        limits: PluginLimits,
        request: Request,
    ) -> Result<(Answer, Arc<CallTrace>), CallError> {
        use tracing::Instrument as _;
        use tracing::instrument::WithSubscriber as _;
        let kind = request.kind();
        let stopped = |reason: String| CallError::Trap {
            plugin: plugin.to_string(),
            call: kind,
            reason,
        };
        let runtime = plugin_runtime().map_err(|e| stopped(e.clone()))?;
        let inner = self.clone();
        let name = plugin.clone();
        let call = async move { inner.run(&name, &pre, &guard, &limits, request).await }
            .in_current_span()
            .with_current_subscriber();
        let mut task = AbortOnDrop(runtime.spawn(call));
        match (&mut task.0).await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => Err(stopped(
                "the plugin host failed while running the call (a bug in msghub; the call \
                 was stopped)"
                    .to_owned(),
            )),
            Err(_) => Err(stopped("the plugin host is shutting down".to_owned())),
        }
    }

    /// Runs one call in a fresh store, under the deadline and the memory cap.
    async fn run(
        &self,
        plugin: &Arc<str>,
        pre: &v0_1::ChannelPre<CallState>,
        guard: &RequestGuard,
        limits: &PluginLimits,
        request: Request,
    ) -> Result<(Answer, Arc<CallTrace>), CallError> {
        let kind = request.kind();
        let deadline = limits.deadline;
        let _slot = self
            .calls
            .acquire()
            .await
            .map_err(|_| CallError::Instantiate {
                plugin: plugin.to_string(),
                call: kind,
                reason: "the plugin host is shutting down".to_owned(),
            })?;
        let trace = Arc::new(CallTrace::new());
        let grant = self.mail_grant(plugin, &request);
        let mut store = self.new_store(plugin, guard, limits.memory, &trace, grant);
        let work = async {
            let channel = pre
                .instantiate_async(&mut store)
                .await
                .map_err(Stage::Instantiate)?;
            let notifier = channel.msghub_notifier_notifier();
            let answer = match request {
                Request::Info => notifier.call_info(&mut store).await.map(Answer::Info),
                Request::Validate(config) => notifier
                    .call_validate_config(&mut store, &config)
                    .await
                    .map(Answer::Validate),
                Request::Send(config, delivery, _) => notifier
                    .call_send(&mut store, &config, &delivery)
                    .await
                    .map(Answer::Send),
            };
            answer.map_err(Stage::Call)
        };
        let error = match tokio::time::timeout(deadline, work).await {
            Ok(Ok(answer)) => return Ok((answer, trace)),
            Ok(Err(stage)) => stage,
            Err(_) => {
                return Err(CallError::Timeout {
                    plugin: plugin.to_string(),
                    call: kind,
                    deadline,
                });
            }
        };
        Err(self.call_error(plugin, kind, limits, error, &trace))
    }

    /// Whether the call may mail, and to whom: only plugins the operator lists, only in
    /// `send`, only to the delivery's recipients and the addresses its channel's
    /// configuration names.
    fn mail_grant(&self, plugin: &str, request: &Request) -> MailGrant {
        if !self.config.mail_plugins.iter().any(|p| p == plugin) {
            return MailGrant::Denied(format!(
                "plugin '{plugin}' may not send mail: the operator grants mail only to the \
                 plugins listed in MSGHUB_MAIL_PLUGINS (now: {})",
                if self.config.mail_plugins.is_empty() {
                    "none".to_owned()
                } else {
                    self.config.mail_plugins.join(", ")
                }
            ));
        }
        let Request::Send(config, delivery, unsubscribe) = request else {
            return MailGrant::Denied(format!(
                "mail can be sent only while delivering (send), not from {}",
                request.kind()
            ));
        };
        let mut allowed: std::collections::HashSet<String> = delivery
            .recipients
            .iter()
            .map(|r| r.address.to_lowercase())
            .collect();
        if let Ok(config) = serde_json::from_str::<serde_json::Value>(config) {
            collect_addresses(&config, &mut allowed);
        }
        MailGrant::Granted {
            allowed,
            left: MAIL_RECIPIENTS,
            unsubscribe: unsubscribe.clone(),
        }
    }

    /// A fresh store for one call: the sandboxed state, the memory cap, the epoch deadline.
    pub(super) fn new_store(
        &self,
        plugin: &Arc<str>,
        guard: &RequestGuard,
        memory_limit: usize,
        trace: &Arc<CallTrace>,
        mail: MailGrant,
    ) -> Store<CallState> {
        let http = PluginHttp {
            guard: guard.clone(),
            outbound: self.outbound.clone(),
            refusals: trace.refusals.clone(),
            quota: Arc::new(CallQuota::new(&self.config)),
            dispatch: trace.dispatch().clone(),
        };
        let state = CallState::new(
            plugin.clone(),
            http,
            (self.mailer.clone(), mail),
            &self.config,
            memory_limit,
            trace.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state.limiter());
        // Guest code never yields by itself: at every epoch tick it yields, so a spinning
        // plugin holds a thread of the plugin host for one tick at a time, never for the
        // whole deadline. It yields as `tokio::task::yield_now` does, behind the tasks
        // already waiting and after the I/O driver is polled, so calls blocked on I/O
        // (other tenants' deliveries) go on between the ticks. The deadline itself is the
        // tokio timeout around the call, which fires at a yield.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| {
            Ok(wasmtime::UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        store
    }

    fn call_error(
        &self,
        plugin: &str,
        call: CallKind,
        limits: &PluginLimits,
        stage: Stage,
        trace: &CallTrace,
    ) -> CallError {
        let plugin = plugin.to_owned();
        let (e, instantiating) = match stage {
            Stage::Instantiate(e) => (e, true),
            Stage::Call(e) => (e, false),
        };
        if e.chain()
            .any(|c| matches!(c.downcast_ref(), Some(ResourceTableError::Full)))
        {
            return CallError::HostResources {
                plugin,
                call,
                limit: self.config.max_handles_per_call,
            };
        }
        if trace.memory_exhausted() {
            return CallError::MemoryExhausted {
                plugin,
                call,
                limit: limits.memory,
            };
        }
        let mut reason = match e.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{e:#}"),
        };
        let output = trace.output_tail();
        if !output.is_empty() {
            reason.push_str("; its last output: ");
            reason.push_str(&output);
        }
        // A plugin that crashes after a refusal often crashes because of it: say so, as a
        // failed delivery does.
        for refusal in trace.refusals() {
            reason.push_str("; refused by the sandbox: ");
            reason.push_str(&refusal);
        }
        if instantiating && e.downcast_ref::<Trap>().is_none() {
            CallError::Instantiate {
                plugin,
                call,
                reason,
            }
        } else {
            CallError::Trap {
                plugin,
                call,
                reason,
            }
        }
    }
}

/// Adds every string of `config` that looks like a mail address, lowercase: the addresses
/// the user who saved the channel chose.
fn collect_addresses(config: &serde_json::Value, into: &mut std::collections::HashSet<String>) {
    match config {
        serde_json::Value::String(s) if s.contains('@') => {
            into.insert(s.trim().to_lowercase());
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| collect_addresses(v, into));
        }
        serde_json::Value::Object(fields) => {
            fields.values().for_each(|v| collect_addresses(v, into));
        }
        _ => {}
    }
}
