//! Message bodies (CommonMark, user text) converted into each service's markup.
//!
//! The body is parsed once with `pulldown-cmark`, then written out in the target dialect:
//! what the dialect supports keeps its meaning (bold, links, lists, code), what it lacks is
//! written as plain text. Every piece of text is escaped for the dialect, so that text a
//! user wrote can never become markup the service acts on (a Lark `<at id=all>`, a WeCom
//! `<@user>`, an HTML tag in an email). Only `http`, `https` and `mailto` links stay links.

mod writer;

use pulldown_cmark::{Options, Parser};

use writer::Writer;

/// A service's markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// DingTalk robot markdown: headings, bold, italic, links, lists, quotes.
    DingTalk,
    /// WeCom robot markdown: headings, bold, links, inline code, quotes.
    WeCom,
    /// Slack `mrkdwn`: `*bold*`, `_italic_`, `~strike~`, `<url|text>`, code, quotes.
    Slack,
    /// Lark card markdown: bold, italic, strike, links, lists, code.
    Lark,
    /// HTML, for email.
    Html,
    /// Plain text, for email's text part and notification previews.
    Plain,
}

impl Dialect {
    /// Escapes user text so that the dialect shows it as written.
    pub fn escape(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let entity = match (self, c) {
                (Dialect::Html, '&') | (Dialect::Slack, '&') => "&amp;",
                (Dialect::Html | Dialect::Slack | Dialect::DingTalk | Dialect::WeCom, '<') => {
                    "&lt;"
                }
                (Dialect::Html | Dialect::Slack | Dialect::DingTalk | Dialect::WeCom, '>') => {
                    "&gt;"
                }
                (Dialect::Html, '"') => "&quot;",
                (Dialect::Html, '\'') => "&#39;",
                (Dialect::Lark, '<') => "&#60;",
                (Dialect::Lark, '>') => "&#62;",
                (Dialect::Lark, '*') => "&#42;",
                (Dialect::Lark, '~') => "&#126;",
                (Dialect::Lark, '`') => "&#96;",
                (Dialect::Lark, '[') => "&#91;",
                (Dialect::Lark, ']') => "&#93;",
                _ => {
                    out.push(c);
                    continue;
                }
            };
            out.push_str(entity);
        }
        out
    }

    /// A link with `label` (already escaped) to `url`, or the label alone when `url` is not
    /// an http, https or mailto URL.
    pub fn link(self, label: &str, url: &str) -> String {
        let safe = ["http://", "https://", "mailto:"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if !safe {
            return label.to_owned();
        }
        match self {
            Dialect::DingTalk | Dialect::WeCom | Dialect::Lark => {
                let url = url
                    .replace(' ', "%20")
                    .replace('(', "%28")
                    .replace(')', "%29");
                format!("[{label}]({url})")
            }
            Dialect::Slack => {
                let url = Dialect::Slack.escape(url).replace('|', "%7C");
                format!("<{url}|{label}>")
            }
            Dialect::Html => format!("<a href=\"{}\">{label}</a>", Dialect::Html.escape(url)),
            Dialect::Plain if label == url => url.to_owned(),
            Dialect::Plain => format!("{label} ({url})"),
        }
    }

    fn strong(self) -> (&'static str, &'static str) {
        match self {
            Dialect::DingTalk | Dialect::WeCom | Dialect::Lark => ("**", "**"),
            Dialect::Slack => ("*", "*"),
            Dialect::Html => ("<strong>", "</strong>"),
            Dialect::Plain => ("", ""),
        }
    }

    fn emphasis(self) -> (&'static str, &'static str) {
        match self {
            Dialect::DingTalk | Dialect::Lark => ("*", "*"),
            Dialect::Slack => ("_", "_"),
            Dialect::Html => ("<em>", "</em>"),
            Dialect::WeCom | Dialect::Plain => ("", ""),
        }
    }

    fn strikethrough(self) -> (&'static str, &'static str) {
        match self {
            Dialect::Lark => ("~~", "~~"),
            Dialect::Slack => ("~", "~"),
            Dialect::Html => ("<del>", "</del>"),
            Dialect::DingTalk | Dialect::WeCom | Dialect::Plain => ("", ""),
        }
    }

    /// A heading inside a body: smaller than the notification's own title.
    fn heading(self, level: usize) -> (String, &'static str) {
        match self {
            Dialect::DingTalk | Dialect::WeCom => {
                (format!("{} ", "#".repeat((level + 4).min(6))), "")
            }
            Dialect::Slack => ("*".to_owned(), "*"),
            Dialect::Lark => ("**".to_owned(), "**"),
            Dialect::Html => {
                let n = (level + 2).min(6);
                (
                    format!("<h{n}>"),
                    ["", "", "", "</h3>", "</h4>", "</h5>", "</h6>"][n],
                )
            }
            Dialect::Plain => (String::new(), ""),
        }
    }

    fn fences_code(self) -> bool {
        matches!(self, Dialect::Slack | Dialect::Lark)
    }

    fn code_span(self, code: &str) -> String {
        match self {
            Dialect::WeCom | Dialect::Lark => format!("`{}`", code.replace('`', "'")),
            Dialect::Slack => format!("`{}`", Dialect::Slack.escape(code)),
            Dialect::Html => format!("<code>{}</code>", Dialect::Html.escape(code)),
            Dialect::DingTalk | Dialect::Plain => self.escape(code),
        }
    }

    fn bullet(self) -> &'static str {
        match self {
            Dialect::Slack => "• ",
            _ => "- ",
        }
    }
}

/// Converts the Markdown `body` into `dialect`.
pub fn convert(body: &str, dialect: Dialect) -> String {
    let mut writer = Writer::new(dialect, body.len());
    for event in Parser::new_ext(body, Options::ENABLE_STRIKETHROUGH) {
        writer.event(event);
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "Traffic is **10x** normal on *eth0*.\n\n\
                        - check [the graph](https://grafana.example.com/d?a=1&b=2)\n\
                        - run `ddos --status`\n\n\
                        > quoted <b>x</b>";

    #[test]
    fn dingtalk_keeps_markdown_and_neutralises_tags() {
        assert_eq!(
            convert(BODY, Dialect::DingTalk),
            "Traffic is **10x** normal on *eth0*.\n\n\
             - check [the graph](https://grafana.example.com/d?a=1&b=2)\n\
             - run ddos --status\n\n\
             > quoted &lt;b&gt;x&lt;/b&gt;"
        );
    }

    #[test]
    fn wecom_drops_italics_but_keeps_inline_code() {
        let out = convert(BODY, Dialect::WeCom);
        assert!(
            out.starts_with("Traffic is **10x** normal on eth0."),
            "{out}"
        );
        assert!(out.contains("- run `ddos --status`"), "{out}");
    }

    #[test]
    fn slack_mrkdwn_uses_its_own_marks_and_escapes() {
        assert_eq!(
            convert(BODY, Dialect::Slack),
            "Traffic is *10x* normal on _eth0_.\n\n\
             • check <https://grafana.example.com/d?a=1&amp;b=2|the graph>\n\
             • run `ddos --status`\n\n\
             > quoted &lt;b&gt;x&lt;/b&gt;"
        );
    }

    #[test]
    fn lark_escapes_mentions_and_markup_in_user_text() {
        let out = convert(r"hi <at id=all></at> \*not bold\*", Dialect::Lark);
        assert_eq!(
            out,
            "hi &#60;at id=all&#62;&#60;/at&#62; &#42;not bold&#42;"
        );
    }

    #[test]
    fn html_escapes_every_piece_of_user_text() {
        let out = convert(
            "<script>alert(1)</script>\n\n**a & b** [x](javascript:alert(1)) [y](https://e.com/?q=\"1\")",
            Dialect::Html,
        );
        assert_eq!(
            out,
            "&lt;script&gt;alert(1)&lt;/script&gt;\n\
             <p><strong>a &amp; b</strong> x <a href=\"https://e.com/?q=&quot;1&quot;\">y</a></p>"
        );
    }

    #[test]
    fn plain_text_spells_links_out() {
        assert_eq!(
            convert("see [docs](https://d.example.com) **now**", Dialect::Plain),
            "see docs (https://d.example.com) now"
        );
    }

    #[test]
    fn headings_code_blocks_and_nested_lists() {
        let body = "# Steps\n\n1. one\n   - sub\n2. two\n\n```sh\nrm -rf <dir>\n```";
        assert_eq!(
            convert(body, Dialect::Slack),
            "*Steps*\n\n1. one\n  • sub\n2. two\n\n```\nrm -rf &lt;dir&gt;\n```"
        );
        assert_eq!(
            convert(body, Dialect::DingTalk),
            "##### Steps\n\n1. one\n  - sub\n2. two\n\nrm -rf &lt;dir&gt;"
        );
        assert_eq!(
            convert(body, Dialect::Html),
            "<h3>Steps</h3>\n<ol><li>one<ul><li>sub</li>\n</ul>\n</li>\n<li>two</li>\n</ol>\n\
             <pre><code>rm -rf &lt;dir&gt;\n</code></pre>"
        );
    }
}
