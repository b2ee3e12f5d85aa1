//! Fitting a message into a service's size limit: the body is cut on a character boundary,
//! never the title or the link, and the rendering says that it was cut.

use crate::{Dialect, Locale};

/// Renders `body` whole with `render(body, false)` when the result's `size` is at most
/// `limit`; otherwise cuts the body (on a character boundary) until `render(cut, true)`
/// fits, `true` asking the renderer to add its pointer to the full message. When even an
/// empty body does not fit, returns the rendering with an empty body.
pub fn fit<T>(
    body: &str,
    limit: usize,
    size: impl Fn(&T) -> usize,
    render: impl Fn(&str, bool) -> T,
) -> T {
    let whole = render(body, false);
    let mut excess = size(&whole).saturating_sub(limit);
    if excess == 0 {
        return whole;
    }
    let mut keep = body.len();
    loop {
        // Escaping makes the output grow faster than the source: cut at least a little more
        // than the excess, so this ends in a few rounds.
        keep = floor_char_boundary(body, keep.saturating_sub(excess.max(8)));
        let cut = render(body[..keep].trim_end(), true);
        excess = size(&cut).saturating_sub(limit);
        if excess == 0 || keep == 0 {
            return cut;
        }
    }
}

/// Renders as many of a digest's `items` as fit: `render(shown, left_out)` with all of them
/// when that fits `limit`, else with the longest prefix that fits (the oldest messages),
/// `left_out` counting the ones dropped. With none fitting, returns the rendering of none.
/// A binary search, so that a digest of thousands renders a dozen times, not thousands.
pub fn fit_items<I, T>(
    items: &[I],
    limit: usize,
    size: impl Fn(&T) -> usize,
    render: impl Fn(&[I], usize) -> T,
) -> T {
    let total = items.len();
    let whole = render(items, 0);
    if size(&whole) <= limit {
        return whole;
    }
    // `fits` shown items are known to fit (or are none); `too_many` are known not to.
    let (mut fits, mut too_many) = (0, total);
    while too_many - fits > 1 {
        let mid = fits + (too_many - fits) / 2;
        if size(&render(&items[..mid], total - mid)) <= limit {
            fits = mid;
        } else {
            too_many = mid;
        }
    }
    render(&items[..fits], total - fits)
}

/// The line that ends a shortened body: it says so, and points at the full message (its
/// link, or the inbox when it has none).
pub fn cut_notice(locale: Locale, dialect: Dialect, link: Option<&str>) -> String {
    match link {
        Some(link) => format!(
            "… {}: {}",
            locale.truncated(),
            dialect.link(locale.full_message(), link)
        ),
        None => format!("… {}; {}", locale.truncated(), locale.full_in_inbox()),
    }
}

/// Appends a (possibly shortened) Markdown `body`, converted to `dialect`, to `text`; when it
/// was cut, then also the notice pointing at the full message (`link`, or the inbox).
pub fn push_body(
    text: &mut String,
    body: &str,
    cut: bool,
    locale: Locale,
    dialect: Dialect,
    link: Option<&str>,
) {
    if !body.is_empty() {
        text.push_str("\n\n");
        text.push_str(&crate::markdown::convert(body, dialect));
    }
    if cut {
        text.push_str("\n\n");
        text.push_str(&cut_notice(locale, dialect, link));
    }
}

/// The largest character boundary of `text` at or below `index`.
pub fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut end = index.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// Cuts `text` to at most `max_chars` characters, ending it with `…` when cut.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str, cut: bool) -> String {
        format!("<{body}{}>", if cut { "…[more]" } else { "" })
    }

    #[test]
    fn a_body_that_fits_is_left_whole() {
        assert_eq!(fit("short", 100, String::len, page), "<short>");
    }

    #[test]
    fn a_long_body_is_cut_on_a_character_boundary_with_a_pointer() {
        let body = "告警".repeat(100);
        let out = fit(&body, 64, String::len, page);
        assert!(out.len() <= 64, "{}", out.len());
        assert!(out.ends_with("…[more]>"), "{out}");
        assert!(out.starts_with("<告警"), "{out}");
    }

    #[test]
    fn a_digest_drops_items_from_the_end_until_it_fits() {
        let items = ["aaaa", "bbbb", "cccc"];
        let render = |shown: &[&str], left: usize| format!("{}+{left}", shown.concat());
        assert_eq!(
            fit_items(&items, 100, String::len, render),
            "aaaabbbbcccc+0"
        );
        assert_eq!(fit_items(&items, 10, String::len, render), "aaaabbbb+1");
        assert_eq!(fit_items(&items, 1, String::len, render), "+3");
    }

    #[test]
    fn the_cut_notice_points_at_the_link_or_the_inbox() {
        assert_eq!(
            cut_notice(Locale::En, Dialect::Slack, Some("https://x.example/1")),
            "… Message shortened to fit: <https://x.example/1|Read the full message>"
        );
        assert_eq!(
            cut_notice(Locale::ZhCn, Dialect::DingTalk, None),
            "… 内容过长，已截断; 完整消息请查看站内信"
        );
    }

    #[test]
    fn character_truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("告警告警", 3), "告警…");
        assert_eq!(truncate_chars("告警", 2), "告警");
    }
}
