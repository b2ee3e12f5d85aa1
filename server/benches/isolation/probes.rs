//! Probes.

#[allow(unused_imports)]
use super::*;

/// Latencies of one probe; `None` is no answer (a timeout or a broken connection).
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) samples: Vec<Option<Duration>>,
    /// For an unanswered sample, what to print instead of a latency.
    pub(crate) missing: String,
}

impl Stats {
    pub(crate) fn percentile(&self, p: f64) -> Option<Option<Duration>> {
        if self.samples.is_empty() {
            return None;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_by_key(|s| s.unwrap_or(Duration::MAX));
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(sorted[rank - 1])
    }

    pub(crate) fn cell(&self) -> String {
        let show = |v: Option<Option<Duration>>| match v {
            None => "–".to_owned(),
            Some(Some(d)) => duration_text(d),
            Some(None) => self.missing.clone(),
        };
        format!(
            "{} / {}",
            show(self.percentile(0.5)),
            show(self.percentile(0.99))
        )
    }
}

pub(crate) struct ProbeResults {
    pub(crate) healthz: Stats,
    pub(crate) list: Stats,
    pub(crate) delivery: Stats,
    pub(crate) notes: Vec<String>,
}

/// Runs the three probes until `until`, then gives B's deliveries their grace.
pub(crate) async fn probe(hub: Hub, b: Tenant, sink: Arc<Sink>, until: Instant) -> ProbeResults {
    let healthz = tokio::spawn(poll(
        hub.clone(),
        "/healthz".to_owned(),
        None,
        HEALTHZ_EVERY,
        until,
    ));
    let list = tokio::spawn(poll(
        hub.clone(),
        b.path("/messages?limit=50"),
        Some(b.root.clone()),
        LIST_EVERY,
        until,
    ));
    let mut published: Vec<(Option<String>, Instant)> = Vec::new();
    let mut publish_failures = Vec::new();
    let mut n = 0u64;
    while Instant::now() < until {
        let tick = Instant::now();
        let message = json!({"category": "service", "title": format!("Probe {n}")});
        let answer = hub
            .send(
                Method::POST,
                &b.path("/messages"),
                Some(OPERATOR),
                Some(message),
                PROBE_TIMEOUT,
            )
            .await;
        let id = match &answer {
            Ok(Answered {
                status: 201, body, ..
            }) => serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned)),
            _ => None,
        };
        if id.is_none() {
            publish_failures.push(answer);
        }
        published.push((id, tick));
        n += 1;
        tokio::time::sleep_until((tick + PUBLISH_EVERY).into()).await;
    }
    let (healthz, healthz_notes) = healthz.await.expect("the healthz probe");
    let (list, list_notes) = list.await.expect("the list probe");
    let grace = Instant::now() + DELIVERY_GRACE;
    let arrived = |published: &[(Option<String>, Instant)]| {
        published
            .iter()
            .all(|(id, _)| id.as_ref().is_none_or(|id| sink.arrival(id).is_some()))
    };
    while !arrived(&published) && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = Instant::now();
    let mut delivery = Stats::default();
    // A publish without an answer counts as a message not delivered; the cell names the
    // shortest wait of an accepted one, or else says that none was accepted.
    let mut shortest_wait: Option<Duration> = None;
    for (id, sent) in &published {
        let arrival = id.as_ref().and_then(|id| sink.arrival(id));
        delivery
            .samples
            .push(arrival.map(|at| at.saturating_duration_since(*sent)));
        if id.is_some() && arrival.is_none() {
            let waited = end - *sent;
            shortest_wait = Some(shortest_wait.map_or(waited, |w| w.min(waited)));
        }
    }
    delivery.missing = match shortest_wait {
        Some(waited) => format!("not delivered in {} s", waited.as_secs()),
        None => "publish failed".to_owned(),
    };
    let mut notes = Vec::new();
    let lost = delivery.samples.iter().filter(|s| s.is_none()).count();
    if lost > 0 {
        notes.push(format!("B: {lost} of {} not delivered", published.len()));
    }
    if !publish_failures.is_empty() {
        notes.push(format!(
            "B's publishes failed: {}",
            summarize_statuses(&publish_failures)
        ));
    }
    notes.extend(healthz_notes.map(|n| format!("healthz: {n}")));
    notes.extend(list_notes.map(|n| format!("list: {n}")));
    ProbeResults {
        healthz,
        list,
        delivery,
        notes,
    }
}

/// Requests `path` every `every` until `until`; the latencies, and a note when some were
/// not a 200.
pub(crate) async fn poll(
    hub: Hub,
    path: String,
    token: Option<String>,
    every: Duration,
    until: Instant,
) -> (Stats, Option<String>) {
    let mut stats = Stats {
        missing: "no answer".to_owned(),
        ..Stats::default()
    };
    let mut answers = Vec::new();
    while Instant::now() < until {
        let tick = Instant::now();
        let answer = hub
            .send(Method::GET, &path, token.as_deref(), None, PROBE_TIMEOUT)
            .await;
        stats.samples.push(answer.as_ref().ok().map(|a| a.took));
        answers.push(answer);
        tokio::time::sleep_until((tick + every).into()).await;
    }
    let all_ok = answers
        .iter()
        .all(|a| matches!(a, Ok(Answered { status: 200, .. })));
    let note = (!all_ok).then(|| summarize_statuses(&answers));
    (stats, note)
}
