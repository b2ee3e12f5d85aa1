//! A small Prometheus registry: typed metric families, rendered in the text exposition
//! format at `/metrics`. Every name starts with `msghub_`.
//!
//! Each metric is a field of [`Metrics`], so code records into a named, typed thing
//! (`metrics.messages_published.inc()`) and a new metric is one field plus one line in
//! [`Metrics::render`].
//!
//! A label value never comes from the client as it was sent: methods outside the standard
//! ones count as `other`, routes are the matched templates (`unmatched` for none), statuses
//! are three digits and plugins are the loaded ones (`other` for any name not loaded). So
//! the number of series is fixed by the server, and no request can grow the registry.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// The latency buckets (seconds) of request and plugin call histograms.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A counter without labels.
#[derive(Debug)]
pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    /// A counter named `name` (starting with `msghub_`, ending with `_total`).
    pub const fn new(name: &'static str, help: &'static str) -> Counter {
        Counter {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    /// Adds one.
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "counter");
        let _ = writeln!(out, "{} {}", self.name, self.get());
    }
}

/// A gauge without labels.
#[derive(Debug)]
pub struct Gauge {
    name: &'static str,
    help: &'static str,
    value: AtomicI64,
}

impl Gauge {
    /// A gauge named `name`.
    pub const fn new(name: &'static str, help: &'static str) -> Gauge {
        Gauge {
            name,
            help,
            value: AtomicI64::new(0),
        }
    }

    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.value.store(value, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "gauge");
        let _ = writeln!(out, "{} {}", self.name, self.get());
    }
}

/// Counters by label values, e.g. deliveries by plugin and outcome.
#[derive(Debug)]
pub struct CounterVec<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    // A short list searched by value: a handful of series, and no allocation per record.
    values: Mutex<Vec<([String; N], u64)>>,
}

impl<const N: usize> CounterVec<N> {
    /// A family named `name` with these label names.
    pub fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        CounterVec {
            name,
            help,
            labels,
            values: Mutex::new(Vec::new()),
        }
    }

    /// Adds one to the counter of these label values.
    pub fn inc(&self, values: [&str; N]) {
        self.add(values, 1);
    }

    /// Adds `n` to the counter of these label values.
    pub fn add(&self, values: [&str; N], n: u64) {
        let mut series = self.values.lock();
        match series.iter_mut().find(|(key, _)| same(key, &values)) {
            Some((_, v)) => *v += n,
            None => series.push((values.map(str::to_owned), n)),
        }
    }

    /// The counter of these label values.
    pub fn get(&self, values: [&str; N]) -> u64 {
        self.values
            .lock()
            .iter()
            .find(|(key, _)| same(key, &values))
            .map_or(0, |(_, v)| *v)
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "counter");
        let mut series = self.values.lock().clone();
        series.sort();
        for (values, count) in &series {
            let _ = writeln!(
                out,
                "{}{{{}}} {count}",
                self.name,
                labels(&self.labels, values)
            );
        }
    }
}

#[derive(Debug, Clone)]
struct Series {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Histograms by label values, e.g. request latency by route.
#[derive(Debug)]
pub struct HistogramVec<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    bounds: &'static [f64],
    series: Mutex<Vec<([String; N], Series)>>,
}

impl<const N: usize> HistogramVec<N> {
    /// A family named `name` (seconds, so ending with `_seconds`) with these buckets.
    pub fn new(
        name: &'static str,
        help: &'static str,
        labels: [&'static str; N],
        bounds: &'static [f64],
    ) -> Self {
        HistogramVec {
            name,
            help,
            labels,
            bounds,
            series: Mutex::new(Vec::new()),
        }
    }

    /// Records one observation of `elapsed`.
    pub fn observe(&self, values: [&str; N], elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = self.bounds.iter().position(|&b| seconds <= b);
        let mut all = self.series.lock();
        let index = match all.iter().position(|(key, _)| same(key, &values)) {
            Some(i) => i,
            None => {
                let fresh = Series {
                    buckets: vec![0; self.bounds.len()],
                    sum: 0.0,
                    count: 0,
                };
                all.push((values.map(str::to_owned), fresh));
                all.len() - 1
            }
        };
        let series = &mut all[index].1;
        if let Some(i) = bucket {
            series.buckets[i] += 1;
        }
        series.sum += seconds;
        series.count += 1;
    }

    /// How many observations these label values have.
    pub fn count(&self, values: [&str; N]) -> u64 {
        self.series
            .lock()
            .iter()
            .find(|(key, _)| same(key, &values))
            .map_or(0, |(_, s)| s.count)
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "histogram");
        let mut series = self.series.lock().clone();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for (values, s) in &series {
            let base = labels(&self.labels, values);
            let sep = if base.is_empty() { "" } else { "," };
            let mut cumulative = 0;
            for (bound, n) in self.bounds.iter().zip(&s.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{}_bucket{{{base}{sep}le=\"{bound}\"}} {cumulative}",
                    self.name
                );
            }
            let _ = writeln!(
                out,
                "{}_bucket{{{base}{sep}le=\"+Inf\"}} {}",
                self.name, s.count
            );
            let _ = writeln!(out, "{}_sum{{{base}}} {}", self.name, s.sum);
            let _ = writeln!(out, "{}_count{{{base}}} {}", self.name, s.count);
        }
    }
}

fn same<const N: usize>(key: &[String; N], values: &[&str; N]) -> bool {
    key.iter().zip(values).all(|(k, v)| k == v)
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(names: &[&str], values: &[String]) -> String {
    let mut text = String::new();
    for (i, (name, value)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            text.push(',');
        }
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(text, "{name}=\"{escaped}\"");
    }
    text
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    /// Requests answered, by matched route template, method and status.
    pub http_requests: CounterVec<3>,
    /// Request latency by matched route template and method.
    pub http_duration: HistogramVec<2>,
    /// Messages stored by publishes (dedupe hits are not counted here).
    pub messages_published: Counter,
    /// Publishes answered with an existing message because of its dedupe key.
    pub messages_deduplicated: Counter,
    /// Channel plugins loaded.
    pub plugins_loaded: Gauge,
    /// Plugin files refused at load.
    pub plugins_refused: Gauge,
    /// Deleted messages whose rows still wait to be purged.
    pub pending_purge: Gauge,
    /// Stored messages the search index has not reached yet.
    pub search_index_pending: Gauge,
    /// About how much memory the search index holds.
    pub search_index_bytes: Gauge,
    /// Live event streams open.
    pub event_streams: Gauge,
    /// Delivery attempts by plugin and outcome (`delivered`, `retryable`, `rate_limited`,
    /// `permanent`).
    pub deliveries: CounterVec<2>,
    /// Time spent in the plugin per delivery attempt, by plugin.
    pub plugin_duration: HistogramVec<1>,
    /// Deliveries waiting in the outbox or in flight.
    pub outbox_depth: Gauge,
    /// The names of the loaded plugins: the only plugin label values besides `other`.
    known_plugins: parking_lot::RwLock<Vec<String>>,
}

/// The label value of a method: its name when it is one of HTTP's standard methods,
/// `other` for any extension method a client invents.
pub fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

impl msghub::DeliveryObserver for Metrics {
    fn attempt(&self, plugin: &str, outcome: &'static str, elapsed: Duration) {
        let known = self.known_plugins.read();
        let plugin = if known.iter().any(|p| p == plugin) {
            plugin
        } else {
            "other"
        };
        self.deliveries.inc([plugin, outcome]);
        self.plugin_duration.observe([plugin], elapsed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics {
            http_requests: CounterVec::new(
                "msghub_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
                ["route", "method", "status"],
            ),
            http_duration: HistogramVec::new(
                "msghub_http_request_duration_seconds",
                "Time to answer an HTTP request, by route template and method.",
                ["route", "method"],
                LATENCY_BUCKETS,
            ),
            messages_published: Counter::new(
                "msghub_messages_published_total",
                "Messages stored by publishes.",
            ),
            messages_deduplicated: Counter::new(
                "msghub_messages_deduplicated_total",
                "Publishes answered with an earlier message of the same dedupe key.",
            ),
            plugins_loaded: Gauge::new("msghub_plugins_loaded", "Channel plugins loaded."),
            plugins_refused: Gauge::new(
                "msghub_plugins_refused",
                "Plugin files refused at load (see the log for why).",
            ),
            pending_purge: Gauge::new(
                "msghub_messages_pending_purge",
                "Deleted messages whose rows still wait to be purged.",
            ),
            search_index_pending: Gauge::new(
                "msghub_search_index_pending",
                "Stored messages the search index has not reached yet (a search reads them one by one).",
            ),
            search_index_bytes: Gauge::new(
                "msghub_search_index_bytes",
                "About how much memory the search index holds.",
            ),
            event_streams: Gauge::new(
                "msghub_event_streams",
                "Live event streams open (GET /v1/accounts/{account}/events).",
            ),
            deliveries: CounterVec::new(
                "msghub_deliveries_total",
                "Delivery attempts, by plugin and outcome (delivered, retryable, rate_limited, permanent).",
                ["plugin", "outcome"],
            ),
            plugin_duration: HistogramVec::new(
                "msghub_plugin_call_duration_seconds",
                "Time a plugin took for one delivery attempt, by plugin.",
                ["plugin"],
                LATENCY_BUCKETS,
            ),
            outbox_depth: Gauge::new(
                "msghub_outbox_depth",
                "Deliveries waiting in the outbox or in flight.",
            ),
            known_plugins: parking_lot::RwLock::new(Vec::new()),
        }
    }

    /// Names the loaded plugins, the label values that delivery metrics may carry.
    pub fn set_plugins(&self, names: impl IntoIterator<Item = String>) {
        *self.known_plugins.write() = names.into_iter().collect();
    }

    /// Records one answered request. `route` must be a matched route template or a fixed
    /// word, never the request's path.
    pub fn record_request(
        &self,
        route: &str,
        method: &http::Method,
        status: u16,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        let digits = status_digits(status);
        let status = std::str::from_utf8(&digits).unwrap_or("000");
        self.http_requests.inc([route, method, status]);
        self.http_duration.observe([route, method], elapsed);
    }

    /// The whole registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.http_requests.render(&mut out);
        self.http_duration.render(&mut out);
        self.messages_published.render(&mut out);
        self.messages_deduplicated.render(&mut out);
        self.plugins_loaded.render(&mut out);
        self.plugins_refused.render(&mut out);
        self.pending_purge.render(&mut out);
        self.search_index_pending.render(&mut out);
        self.search_index_bytes.render(&mut out);
        self.event_streams.render(&mut out);
        self.deliveries.render(&mut out);
        self.plugin_duration.render(&mut out);
        self.outbox_depth.render(&mut out);
        out
    }
}

fn status_digits(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_labelled() {
        let m = Metrics::new();
        m.record_request(
            "/v1/plugins",
            &http::Method::GET,
            200,
            Duration::from_micros(300),
        );
        m.record_request(
            "/v1/plugins",
            &http::Method::GET,
            200,
            Duration::from_millis(30),
        );
        let text = m.render();
        assert!(text.contains(
            "msghub_http_requests_total{route=\"/v1/plugins\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "msghub_http_request_duration_seconds_bucket{route=\"/v1/plugins\",method=\"GET\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "msghub_http_request_duration_seconds_bucket{route=\"/v1/plugins\",method=\"GET\",le=\"+Inf\"} 2"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("msghub_"), "{line}");
        }
    }
}
