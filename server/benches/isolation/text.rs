//! Text.

#[allow(unused_imports)]
use super::*;

/// `"x"` of `key` in a setup answer.
pub(crate) fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("the answer has no string '{key}': {value}"))
        .to_owned()
}

/// The configuration of a `webhook` channel to `url`.
pub(crate) fn webhook(url: &str) -> Value {
    json!({"url": url, "secret": WEBHOOK_SECRET})
}

/// A message body of `len` bytes of plain text.
pub(crate) fn filler(len: usize) -> String {
    "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(len)
        .collect()
}

pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &s[..end])
}

pub(crate) fn duration_text(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

pub(crate) fn bytes_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Statuses counted: `200×12, 503×3, no answer×1`.
pub(crate) fn summarize_statuses(answers: &[Attempt]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for answer in answers {
        let key = match answer {
            Ok(a) => a.status.to_string(),
            Err(e) if e.why.starts_with("no answer") => "timeout".to_owned(),
            Err(_) => "no connection".to_owned(),
        };
        *counts.entry(key).or_default() += 1;
    }
    let counted: Vec<String> = counts.iter().map(|(k, n)| format!("{k}×{n}")).collect();
    counted.join(", ")
}

/// Statuses, median time and largest answer of a set of requests.
pub(crate) fn summarize(answers: &[Attempt]) -> String {
    if answers.is_empty() {
        return "none".to_owned();
    }
    let took = Stats {
        samples: answers
            .iter()
            .map(|a| a.as_ref().ok().map(|a| a.took))
            .collect(),
        missing: "no answer".to_owned(),
    };
    let largest = answers
        .iter()
        .filter_map(|a| a.as_ref().ok().map(|a| a.body.len() as u64))
        .max()
        .unwrap_or(0);
    let median = match took.percentile(0.5) {
        Some(Some(d)) => duration_text(d),
        _ => "no answer".to_owned(),
    };
    let refusal = answers.iter().find_map(|a| match a {
        Ok(a) if a.status >= 400 => Some(error_message(&a.body)),
        _ => None,
    });
    let mut summary = format!(
        "{} ({} calls, median {median}",
        summarize_statuses(answers),
        answers.len()
    );
    if largest > 0 {
        summary.push_str(&format!(", largest answer {}", bytes_text(largest)));
    }
    summary.push(')');
    if let Some(refusal) = refusal {
        summary.push_str(&format!(", e.g. \"{refusal}\""));
    }
    summary
}

/// The message of an error answer, cut.
pub(crate) fn error_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    cut(&message, 60)
}

pub(crate) fn render(bench: &Bench, rows: &[Row], took: Duration) -> String {
    let mut out = format!(
        "### msghub isolation: {}\n\nProbes during each attack (fresh connection per request): \
         `/healthz` and B's list every 200 ms, B's publish → webhook delivery every 250 ms \
         (p50 / p99); peak RSS is `VmHWM` from the attack's start (resident before → peak). \
         Window {} s; run took {:.0} s.\n\n",
        bench.bin.display(),
        bench.window.as_secs(),
        took.as_secs_f64()
    );
    out.push_str("| attack | healthz p50 / p99 | list p50 / p99 | other tenant delivery p50 / p99 | peak RSS | notes |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for row in rows {
        let notes = row.notes.join("; ").replace('|', "\\|");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} → {} MiB | {} |\n",
            row.attack.title(),
            row.healthz.cell(),
            row.list.cell(),
            row.delivery.cell(),
            row.idle_kib / 1024,
            row.peak_kib / 1024,
            notes
        ));
    }
    out
}
