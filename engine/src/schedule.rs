//! Time rules of delivery: the retry schedule, digest schedules (cron in a time zone), quiet
//! hours (a daily window of local time in a time zone) and the token buckets that keep each
//! target under its plugin's stated limit.

use std::str::FromStr;
use std::time::Duration;

use chrono::TimeZone;

use crate::clock::from_micros;
use crate::error::Error;
use crate::model::Severity;

/// The delays before each attempt of a delivery: N entries allow N attempts. The first entry
/// is the delay before the first attempt (normally zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

/// The schedule of the contract: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_RETRY_SCHEDULE: &str = "0s,5s,5m,30m,2h,5h,10h,10h";

/// The longest delay before one attempt: 365 days. Longer ones are refused where they are
/// configured, so the time of an attempt can never leave the clock's range.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(365 * 86_400);

impl Default for RetrySchedule {
    fn default() -> RetrySchedule {
        // The default text is a constant that parses.
        RetrySchedule::parse(DEFAULT_RETRY_SCHEDULE).unwrap_or(RetrySchedule {
            delays: vec![Duration::ZERO],
        })
    }
}

impl RetrySchedule {
    /// Reads a comma-separated list of delays such as `0s,5s,5m,30m,2h` (units `ms`, `s`,
    /// `m`, `h`, `d`), as `MSGHUB_RETRY_SCHEDULE` gives it.
    pub fn parse(text: &str) -> Result<RetrySchedule, Error> {
        let bad = |what: &str| {
            Error::invalid(
                "MSGHUB_RETRY_SCHEDULE",
                format!(
                    "{what}; write the delay before each attempt, comma-separated, \
                     like '{DEFAULT_RETRY_SCHEDULE}' (units ms, s, m, h, d)"
                ),
            )
        };
        let mut delays = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let digits = part
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len());
            let (number, unit) = part.split_at(digits);
            let number: u64 = number
                .parse()
                .map_err(|_| bad(&format!("'{part}' is not a number with a unit")))?;
            let unit = match unit {
                "ms" => Duration::from_millis(1),
                "s" => Duration::from_secs(1),
                "m" => Duration::from_secs(60),
                "h" => Duration::from_secs(3600),
                "d" => Duration::from_secs(86_400),
                _ => return Err(bad(&format!("'{part}' has no known unit"))),
            };
            let too_long = || bad(&format!("'{part}' is longer than 365 days"));
            let delay = u32::try_from(number)
                .ok()
                .and_then(|n| unit.checked_mul(n))
                .filter(|delay| *delay <= MAX_RETRY_DELAY)
                .ok_or_else(too_long)?;
            delays.push(delay);
        }
        if delays.len() > 100 {
            return Err(bad("at most 100 attempts"));
        }
        Ok(RetrySchedule { delays })
    }

    /// A schedule of these delays.
    pub fn new(delays: Vec<Duration>) -> Result<RetrySchedule, Error> {
        if delays.is_empty() || delays.len() > 100 {
            return Err(Error::invalid(
                "retry_schedule",
                "give between 1 and 100 delays, one per attempt",
            ));
        }
        if delays.iter().any(|d| *d > MAX_RETRY_DELAY) {
            return Err(Error::invalid(
                "retry_schedule",
                "a delay is longer than 365 days; give shorter delays",
            ));
        }
        Ok(RetrySchedule { delays })
    }

    /// How many attempts a delivery gets.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// The delay before attempt `attempt` (counted from 1), if there is such an attempt.
    pub fn delay_before(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// The delays, one per attempt.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }
}

/// Adds up to 20 % of `delay` at random, so deliveries that failed together do not all
/// retry in the same instant.
pub(crate) fn jitter(delay: Duration) -> Duration {
    if delay.is_zero() {
        return delay;
    }
    let extra = rand::random::<f64>() * 0.2;
    delay.saturating_add(delay.mul_f64(extra))
}

/// When a digest subscription sends its summaries: a cron expression (seconds first, as the
/// `cron` crate reads it) in an IANA time zone.
#[derive(Debug, Clone)]
pub(crate) struct DigestSchedule {
    schedule: cron::Schedule,
    zone: chrono_tz::Tz,
}

impl DigestSchedule {
    /// Checks and compiles a cron expression and a time zone; errors name the field.
    pub(crate) fn parse(expression: &str, timezone: &str) -> Result<DigestSchedule, Error> {
        let schedule = cron::Schedule::from_str(expression).map_err(|e| {
            // The parser's message repeats the input with a caret on lines of its own; its
            // last line says what is wrong.
            let text = e.to_string();
            let why = text.lines().last().unwrap_or_default().trim().to_owned();
            Error::invalid(
                "digest.cron",
                format!(
                    "'{expression}' is not a cron expression ({why}); write seconds first, e.g. \
                     '0 0 9 * * *' for 09:00:00 every day"
                ),
            )
        })?;
        let zone = chrono_tz::Tz::from_str(timezone).map_err(|_| {
            Error::invalid(
                "digest.timezone",
                format!(
                    "'{timezone}' is not an IANA time zone; write one like 'Asia/Shanghai', \
                     'Europe/Berlin' or 'UTC'"
                ),
            )
        })?;
        if schedule.upcoming(zone).next().is_none() {
            return Err(Error::invalid(
                "digest.cron",
                format!("'{expression}' never fires; give a schedule with future times"),
            ));
        }
        Ok(DigestSchedule { schedule, zone })
    }

    /// The first tick strictly after `after` (µs since the epoch), in µs.
    pub(crate) fn next_after(&self, after: i64) -> Option<i64> {
        let at = from_micros(after);
        let start = self
            .zone
            .timestamp_opt(at.unix_timestamp(), at.nanosecond())
            .single()?;
        let next = self.schedule.after(&start).next()?;
        next.timestamp_micros().into()
    }

    /// The latest tick at or before `now` and after `after`, if any: missed ticks collapse
    /// into one, so a restart after a long stop sends one summary, not one per tick.
    pub(crate) fn latest_due(&self, after: i64, now: i64) -> Option<i64> {
        let mut tick = self.next_after(after)?;
        if tick > now {
            return None;
        }
        for _ in 0..10_000 {
            match self.next_after(tick) {
                Some(next) if next <= now => tick = next,
                _ => return Some(tick),
            }
        }
        Some(now)
    }
}

/// Quiet hours compiled: a daily window of local wall-clock time in a time zone, during
/// which deliveries wait for the window's end, except those of the severities that pass.
#[derive(Debug, Clone)]
pub(crate) struct QuietWindow {
    /// Minutes after local midnight.
    start: u16,
    end: u16,
    zone: chrono_tz::Tz,
    pass: Vec<Severity>,
}

/// Minutes in a day: the most a `HH:MM` can be, plus one.
const DAY_MINUTES: u16 = 24 * 60;

/// Reads `HH:MM` (00:00 to 23:59) as minutes after midnight; the error names `field`.
pub(crate) fn parse_clock_time(field: &str, text: &str) -> Result<u16, Error> {
    let bad = || {
        Error::invalid(
            field,
            format!(
                "'{}' is not a time of day; write HH:MM from 00:00 to 23:59, e.g. '22:00'",
                text.chars().take(32).collect::<String>().escape_debug()
            ),
        )
    };
    let (hours, minutes) = text.split_once(':').ok_or_else(bad)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(bad());
    }
    let hours: u16 = hours.parse().map_err(|_| bad())?;
    let minutes: u16 = minutes.parse().map_err(|_| bad())?;
    if hours > 23 || minutes > 59 {
        return Err(bad());
    }
    Ok(hours * 60 + minutes)
}

/// `HH:MM` of minutes after midnight.
pub(crate) fn clock_time(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl QuietWindow {
    /// Checks and compiles quiet hours from `start` to `end` (minutes after local
    /// midnight; `end` before `start` crosses midnight) in `timezone`; errors name the
    /// field under `quiet_hours`.
    pub(crate) fn new(
        start: u16,
        end: u16,
        timezone: &str,
        pass: Vec<Severity>,
    ) -> Result<QuietWindow, Error> {
        if start >= DAY_MINUTES || end >= DAY_MINUTES {
            return Err(Error::invalid(
                "quiet_hours",
                "quiet hours start and end between 00:00 and 23:59",
            ));
        }
        if start == end {
            return Err(Error::invalid(
                "quiet_hours.end",
                format!(
                    "quiet hours from {} to {} hold nothing, or everything; give an end \
                     other than the start",
                    clock_time(start),
                    clock_time(end)
                ),
            ));
        }
        let zone = chrono_tz::Tz::from_str(timezone).map_err(|_| {
            Error::invalid(
                "quiet_hours.timezone",
                format!(
                    "'{}' is not an IANA time zone; write one like 'Asia/Shanghai', \
                     'Europe/Berlin' or 'UTC'",
                    timezone.chars().take(64).collect::<String>().escape_debug()
                ),
            )
        })?;
        Ok(QuietWindow {
            start,
            end,
            zone,
            pass,
        })
    }

    /// Whether `minute` (after local midnight) lies inside the window.
    fn contains(&self, minute: u16) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// When a delivery of a message of `severity` that would go out at `at` (µs) goes out
    /// instead: `None` when it need not wait (outside the window, or its severity passes),
    /// else the end of the window it falls in, in µs.
    ///
    /// The window is local wall-clock time: on a day the clocks skip the end (spring
    /// forward), the window ends when local time jumps past it; on a day the end occurs
    /// twice (fall back), at its first occurrence after `at`.
    pub(crate) fn held_until(&self, at: i64, severity: Severity) -> Option<i64> {
        use chrono::{Duration as Span, NaiveTime, Timelike};
        if self.pass.contains(&severity) {
            return None;
        }
        let instant = from_micros(at);
        let local = self
            .zone
            .timestamp_opt(instant.unix_timestamp(), instant.nanosecond())
            .single()?;
        let minute = u16::try_from(local.hour() * 60 + local.minute()).ok()?;
        if !self.contains(minute) {
            return None;
        }
        let mut day = local.date_naive();
        if self.start > self.end && minute >= self.start {
            day = day.succ_opt()?;
        }
        let end = NaiveTime::from_hms_opt(u32::from(self.end / 60), u32::from(self.end % 60), 0)?;
        let mut wall = day.and_time(end);
        // A wall time the clocks skip: the window ends when they reach the other side.
        for _ in 0..(4 * 60 / 15) {
            let candidates: Vec<i64> = match self.zone.from_local_datetime(&wall) {
                chrono::LocalResult::Single(t) => vec![t.timestamp_micros()],
                chrono::LocalResult::Ambiguous(a, b) => {
                    vec![a.timestamp_micros(), b.timestamp_micros()]
                }
                chrono::LocalResult::None => {
                    wall += Span::minutes(15);
                    continue;
                }
            };
            return candidates.into_iter().find(|&t| t > at);
        }
        None
    }

    /// The window as `HH:MM`–`HH:MM` and its time zone, for explanations.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}–{} {}",
            clock_time(self.start),
            clock_time(self.end),
            self.zone.name()
        )
    }
}

/// A token bucket: `capacity` tokens, refilled evenly over `period`.
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the delivery workers
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    capacity: f64,
    per_micro: f64,
    tokens: f64,
    at: i64,
}

#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the delivery workers
impl Bucket {
    /// A full bucket for `count` sends per `period`.
    pub(crate) fn new(count: u32, period: Duration, now: i64) -> Bucket {
        let count = f64::from(count.max(1));
        let micros = (period.as_micros() as f64).max(1.0);
        Bucket {
            capacity: count,
            per_micro: count / micros,
            tokens: count,
            at: now,
        }
    }

    /// Takes a token now, or says when one will be there (µs).
    pub(crate) fn take(&mut self, now: i64) -> Result<(), i64> {
        self.ready(now)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether a token is there now (without taking it), or when one will be (µs).
    pub(crate) fn ready(&mut self, now: i64) -> Result<(), i64> {
        if now > self.at {
            self.tokens =
                (self.tokens + (now - self.at) as f64 * self.per_micro).min(self.capacity);
            self.at = now;
        }
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            let wait = ((1.0 - self.tokens) / self.per_micro).ceil() as i64;
            Err(self.at + wait.max(1))
        }
    }

    /// Whether the bucket is full again at `now`: it limits nothing, and may be forgotten.
    pub(crate) fn full(&mut self, now: i64) -> bool {
        let _ = self.ready(now);
        self.tokens >= self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_reads_the_contract_default() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 8);
        assert_eq!(schedule.delay_before(1), Some(Duration::ZERO));
        assert_eq!(schedule.delay_before(3), Some(Duration::from_secs(300)));
        assert_eq!(schedule.delay_before(9), None);
        let err = RetrySchedule::parse("0s,5x").unwrap_err();
        assert!(err.to_string().contains("'5x'"), "{err}");
        assert!(RetrySchedule::parse("").is_err());
    }

    #[test]
    fn huge_retry_delays_are_refused_when_configured() {
        for text in [
            "99999999999h",
            "4294967295d",
            "0s,366d",
            "18446744073709551615ms",
        ] {
            let err = RetrySchedule::parse(text).unwrap_err().to_string();
            assert!(
                err.contains("365 days") || err.contains("not a number"),
                "{text}: {err}"
            );
        }
        assert!(RetrySchedule::parse("0s,365d").is_ok());
        assert!(RetrySchedule::new(vec![Duration::MAX]).is_err());
        assert!(jitter(Duration::MAX) >= Duration::MAX - Duration::from_secs(1));
    }

    #[test]
    fn digest_ticks_follow_the_time_zone() {
        let schedule = DigestSchedule::parse("0 0 9 * * *", "Asia/Shanghai").unwrap();
        // 2026-11-28T00:00:00Z is 08:00 in Shanghai: the next tick is 01:00 UTC.
        let midnight = 1_795_824_000_000_000;
        assert_eq!(
            schedule.next_after(midnight),
            Some(midnight + 3_600_000_000)
        );
        // Two days missed collapse into the latest tick.
        let later = midnight + 2 * 86_400_000_000 + 7_200_000_000;
        assert_eq!(
            schedule.latest_due(midnight, later),
            Some(midnight + 2 * 86_400_000_000 + 3_600_000_000)
        );
        assert!(DigestSchedule::parse("0 0 9 * *", "UTC").is_err());
        let err = DigestSchedule::parse("0 0 9 * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(err.field(), Some("digest.timezone"));
    }

    #[test]
    fn a_bad_cron_expression_is_one_line_naming_the_field() {
        let error = DigestSchedule::parse("nope", "UTC").unwrap_err();
        assert_eq!(error.field(), Some("digest.cron"));
        let text = error.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("'nope' is not a cron expression ("), "{text}");
        let error = DigestSchedule::parse("0 0 9 * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(error.field(), Some("digest.timezone"));
    }

    /// µs of a UTC wall time, for the quiet-hours tests.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn quiet_hours_across_midnight_hold_until_the_next_morning() {
        let quiet =
            QuietWindow::new(22 * 60, 7 * 60, "Asia/Shanghai", vec![Severity::Critical]).unwrap();
        // 15:30 UTC is 23:30 in Shanghai: held until 07:00 there, 23:00 UTC.
        let at = utc(2026, 12, 1, 15, 30);
        assert_eq!(
            quiet.held_until(at, Severity::Info),
            Some(utc(2026, 12, 1, 23, 0))
        );
        // 02:00 in Shanghai (18:00 UTC): the same morning's 07:00.
        assert_eq!(
            quiet.held_until(utc(2026, 12, 1, 18, 0), Severity::Warning),
            Some(utc(2026, 12, 1, 23, 0))
        );
        // Critical passes; 07:00 itself and the afternoon are outside.
        assert_eq!(quiet.held_until(at, Severity::Critical), None);
        assert_eq!(
            quiet.held_until(utc(2026, 12, 1, 23, 0), Severity::Info),
            None
        );
        assert_eq!(
            quiet.held_until(utc(2026, 12, 1, 6, 0), Severity::Info),
            None
        );
    }

    #[test]
    fn quiet_hours_within_a_day_and_their_checks() {
        let quiet = QuietWindow::new(12 * 60, 13 * 60 + 30, "UTC", vec![]).unwrap();
        assert_eq!(
            quiet.held_until(utc(2026, 12, 1, 12, 0), Severity::Critical),
            Some(utc(2026, 12, 1, 13, 30))
        );
        assert_eq!(
            quiet.held_until(utc(2026, 12, 1, 13, 30), Severity::Info),
            None
        );
        assert_eq!(
            QuietWindow::new(60, 60, "UTC", vec![]).unwrap_err().field(),
            Some("quiet_hours.end")
        );
        assert_eq!(
            QuietWindow::new(60, 120, "Mars/Olympus", vec![])
                .unwrap_err()
                .field(),
            Some("quiet_hours.timezone")
        );
        assert_eq!(parse_clock_time("f", "07:05").unwrap(), 425);
        for bad in ["7:00", "24:00", "12:60", "ab:cd", "1200", "12:00:00", ""] {
            assert!(parse_clock_time("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quiet_hours_follow_daylight_saving_time() {
        // Berlin skips 02:00-03:00 on 2026-03-29: a window ending at 02:30 ends at 03:00
        // local time, 01:00 UTC.
        let quiet = QuietWindow::new(23 * 60, 2 * 60 + 30, "Europe/Berlin", vec![]).unwrap();
        assert_eq!(
            quiet.held_until(utc(2026, 3, 28, 23, 0), Severity::Info),
            Some(utc(2026, 3, 29, 1, 0))
        );
        // A window ending at 07:00 ends at 07:00 local on both sides of the change: 06:00
        // UTC in winter time, 05:00 UTC in summer time.
        let quiet = QuietWindow::new(22 * 60, 7 * 60, "Europe/Berlin", vec![]).unwrap();
        assert_eq!(
            quiet.held_until(utc(2026, 3, 28, 22, 0), Severity::Info),
            Some(utc(2026, 3, 29, 5, 0))
        );
        // On 2026-10-25 02:00-03:00 happens twice; a window ending at 02:30 ends at its
        // first occurrence (00:30 UTC), and one held during the second ends at once...
        let quiet = QuietWindow::new(22 * 60, 2 * 60 + 30, "Europe/Berlin", vec![]).unwrap();
        assert_eq!(
            quiet.held_until(utc(2026, 10, 24, 22, 0), Severity::Info),
            Some(utc(2026, 10, 25, 0, 30))
        );
        // ... at the second 02:30 (01:30 UTC) when it falls between the two.
        assert_eq!(
            quiet.held_until(utc(2026, 10, 25, 1, 10), Severity::Info),
            Some(utc(2026, 10, 25, 1, 30))
        );
    }

    #[test]
    fn a_bucket_lets_a_burst_through_then_paces() {
        let mut bucket = Bucket::new(20, Duration::from_secs(60), 0);
        for _ in 0..20 {
            assert!(bucket.take(0).is_ok());
        }
        assert_eq!(bucket.take(0), Err(3_000_000));
        assert!(bucket.take(3_000_000).is_ok());
    }
}
