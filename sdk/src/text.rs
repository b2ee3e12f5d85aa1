//! Text for chat targets: escaping user text for their markups, and cutting it to their
//! limits without splitting a character.

/// Escapes the characters that Markdown (CommonMark, and the dialects of Discord, DingTalk,
/// Lark) would read as markup, so user text shows as written.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '{'
                | '}'
                | '['
                | ']'
                | '('
                | ')'
                | '#'
                | '+'
                | '-'
                | '.'
                | '!'
                | '|'
                | '>'
                | '<'
                | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes `&`, `<` and `>` as Slack's `mrkdwn` (and HTML text) requires.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cuts `text` to at most `max_bytes` bytes of UTF-8 on a character boundary, ending it with
/// `…` when something was cut (the ellipsis counts in the limit).
pub fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    const ELLIPSIS: &str = "…";
    let budget = max_bytes.saturating_sub(ELLIPSIS.len());
    let mut end = budget;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if max_bytes < ELLIPSIS.len() {
        return String::new();
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// Percent-encodes `text` for a URL query value (everything but `A-Z a-z 0-9 - _ . ~`).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_markup_in_user_text_is_escaped() {
        assert_eq!(
            escape_markdown("*bold* [x](y) `c` # h"),
            r"\*bold\* \[x\]\(y\) \`c\` \# h"
        );
    }

    #[test]
    fn html_specials_are_escaped() {
        assert_eq!(
            escape_html("a < b && c > d"),
            "a &lt; b &amp;&amp; c &gt; d"
        );
    }

    #[test]
    fn truncation_never_splits_a_character() {
        let text = "告警：磁盘已满"; // 3 bytes per character
        for max in 0..text.len() + 2 {
            let cut = truncate(text, max);
            assert!(cut.len() <= max, "{max}: {cut}");
        }
        assert_eq!(truncate(text, 10), "告警…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(
            percent_encode("7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="),
            "7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D"
        );
    }
}
