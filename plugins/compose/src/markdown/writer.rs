//! The writer behind [`convert`](super::convert): parser events out in one dialect, with
//! the blank lines between blocks and the quote and list prefixes of each line.

use pulldown_cmark::{CodeBlockKind, Event, Tag, TagEnd};

use super::Dialect;

/// Writes parser events out in one dialect.
pub(super) struct Writer {
    dialect: Dialect,
    out: String,
    quote_depth: usize,
    /// Open lists: the next number of an ordered one, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Open links: the target, and where their label starts in `out`.
    links: Vec<(String, usize)>,
    line_start: bool,
    /// A blank line is due before the next text (a block ended).
    gap: bool,
    in_code_block: bool,
}

impl Writer {
    pub(super) fn new(dialect: Dialect, capacity: usize) -> Self {
        Writer {
            dialect,
            out: String::with_capacity(capacity + capacity / 4),
            quote_depth: 0,
            lists: Vec::new(),
            links: Vec::new(),
            line_start: true,
            gap: false,
            in_code_block: false,
        }
    }

    /// The text written, without trailing blank lines.
    pub(super) fn finish(self) -> String {
        self.out.trim_end().to_owned()
    }

    fn html(&self) -> bool {
        self.dialect == Dialect::Html
    }

    pub(super) fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) if self.in_code_block => self.code_lines(&text),
            Event::Text(text) => self.put(&self.dialect.escape(&text)),
            Event::Code(code) => self.put(&self.dialect.code_span(&code)),
            // Raw HTML in a body is user text like any other: shown, never interpreted.
            Event::Html(html) => self.code_lines(&html),
            Event::InlineHtml(html) => self.put(&self.dialect.escape(&html)),
            Event::SoftBreak | Event::HardBreak if self.html() => self.put("<br>\n"),
            Event::SoftBreak | Event::HardBreak => self.newline(),
            Event::Rule if self.html() => self.block("<hr>"),
            Event::Rule => self.block("———"),
            Event::TaskListMarker(done) => self.put(if done { "[x] " } else { "[ ] " }),
            // Math and footnotes are not enabled in the parser.
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let dialect = self.dialect;
        match tag {
            Tag::Paragraph if self.html() => self.put("<p>"),
            Tag::Heading { level, .. } => {
                let (open, _) = dialect.heading(level as usize);
                self.gap_if_content();
                self.put(&open);
            }
            Tag::BlockQuote(_) if self.html() => self.put("<blockquote>"),
            Tag::BlockQuote(_) => {
                self.gap_if_content();
                self.quote_depth += 1;
            }
            Tag::CodeBlock(kind) => {
                self.gap_if_content();
                if self.html() {
                    self.put("<pre><code>");
                } else if dialect.fences_code() {
                    let language = match kind {
                        CodeBlockKind::Fenced(lang) if dialect == Dialect::Lark => lang
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                        _ => String::new(),
                    };
                    self.put(&format!("```{language}"));
                    self.newline();
                }
                self.in_code_block = true;
            }
            Tag::List(first) if self.html() => {
                self.lists.push(first);
                self.put(if first.is_some() { "<ol>" } else { "<ul>" });
            }
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.gap_if_content();
                } else if !self.line_start {
                    self.newline();
                }
                self.lists.push(first);
            }
            Tag::Item if self.html() => self.put("<li>"),
            Tag::Item => self.item(),
            Tag::Emphasis => self.put(dialect.emphasis().0),
            Tag::Strong => self.put(dialect.strong().0),
            Tag::Strikethrough => self.put(dialect.strikethrough().0),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.put("");
                self.links.push((dest_url.to_string(), self.out.len()));
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        let dialect = self.dialect;
        match tag {
            TagEnd::Paragraph if self.html() => self.put("</p>\n"),
            TagEnd::Paragraph => self.gap = true,
            TagEnd::Heading(level) => {
                let (_, close) = dialect.heading(level as usize);
                self.put(close);
                self.gap = true;
            }
            TagEnd::BlockQuote(_) if self.html() => self.put("</blockquote>\n"),
            TagEnd::BlockQuote(_) => {
                self.quote_depth = self.quote_depth.saturating_sub(1);
                self.gap = true;
            }
            TagEnd::CodeBlock => {
                self.in_code_block = false;
                if self.html() {
                    self.put("</code></pre>\n");
                } else if dialect.fences_code() {
                    self.put("```");
                }
                self.gap = true;
            }
            TagEnd::List(_) => {
                let ordered = self.lists.pop().flatten().is_some();
                if self.html() {
                    self.put(if ordered { "</ol>\n" } else { "</ul>\n" });
                } else if self.lists.is_empty() {
                    self.gap = true;
                }
            }
            TagEnd::Item if self.html() => self.put("</li>\n"),
            TagEnd::Emphasis => self.put(dialect.emphasis().1),
            TagEnd::Strong => self.put(dialect.strong().1),
            TagEnd::Strikethrough => self.put(dialect.strikethrough().1),
            TagEnd::Link | TagEnd::Image => {
                if let Some((url, start)) = self.links.pop() {
                    let mut label = self.out.split_off(start);
                    if label.trim().is_empty() {
                        label = dialect.escape(&url);
                    }
                    self.out.push_str(&dialect.link(&label, &url));
                }
            }
            _ => {}
        }
    }

    /// Starts a list item on its own line, indented by its depth.
    fn item(&mut self) {
        if self.gap && !self.out.is_empty() {
            self.out.push('\n');
        }
        self.gap = false;
        if !self.line_start {
            self.out.push('\n');
        }
        let depth = self.lists.len().saturating_sub(1);
        let marker = match self.lists.last_mut() {
            Some(Some(number)) => {
                *number += 1;
                format!("{}. ", *number - 1)
            }
            _ => self.dialect.bullet().to_owned(),
        };
        let prefix = "> ".repeat(self.quote_depth);
        self.out
            .push_str(&format!("{prefix}{}{marker}", "  ".repeat(depth)));
        self.line_start = false;
    }

    /// Writes the lines of a code block or an HTML block, escaped, keeping its line breaks.
    fn code_lines(&mut self, text: &str) {
        let escaped = match self.dialect {
            Dialect::Lark if self.in_code_block => text.replace("```", "'''"),
            Dialect::Slack if self.in_code_block => Dialect::Slack.escape(text),
            dialect => dialect.escape(text),
        };
        if self.html() {
            self.put(&escaped);
            return;
        }
        for (i, line) in escaped.split('\n').enumerate() {
            if i > 0 {
                self.newline();
            }
            self.put(line);
        }
    }

    fn gap_if_content(&mut self) {
        if !self.out.is_empty() {
            self.gap = true;
        }
    }

    fn block(&mut self, text: &str) {
        self.gap_if_content();
        self.put(text);
        self.gap = true;
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.line_start = true;
    }

    /// Writes inline content, after the blank line a finished block asks for and the
    /// quote and list prefixes of a new line. `put("")` only settles those.
    fn put(&mut self, text: &str) {
        if self.gap {
            self.gap = false;
            if !self.out.is_empty() {
                let trimmed = self.out.trim_end_matches('\n').len();
                self.out.truncate(trimmed);
                self.out.push_str(if self.html() { "\n" } else { "\n\n" });
                self.line_start = true;
            }
        }
        if self.line_start && !self.html() && !text.is_empty() {
            let prefix = format!(
                "{}{}",
                "> ".repeat(self.quote_depth),
                "  ".repeat(self.lists.len())
            );
            self.out.push_str(&prefix);
        }
        if !text.is_empty() {
            self.line_start = false;
        }
        self.out.push_str(text);
    }
}
