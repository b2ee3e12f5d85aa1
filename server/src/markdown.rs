//! Message bodies as HTML for the console: Markdown rendered by `pulldown-cmark`, then
//! cleaned by `ammonia`. Both work without recursion on the input's nesting and in time
//! close to linear in its length, so no body (at most 64 KiB) can stall a request or
//! overflow a stack. Markup written in a body stays text, as it always was in the console;
//! links keep only `http`, `https` and `mailto`.

use std::collections::HashSet;

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

/// The body as safe HTML: Markdown rendered, raw markup escaped, bare `http(s)://` URLs
/// made links, and everything a browser could run removed.
pub fn body_html(markdown: &str) -> String {
    let mut events = Vec::new();
    let mut link_depth = 0usize;
    let mut depth = 0usize;
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        // Containers deeper than anyone writes are flattened: the HTML tree builder's
        // scope checks cost the depth of the tree at every element.
        match &event {
            Event::Start(tag) if is_container(tag) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    continue;
                }
            }
            Event::End(tag) if is_container_end(tag) => {
                depth = depth.saturating_sub(1);
                if depth >= MAX_DEPTH {
                    continue;
                }
            }
            _ => {}
        }
        match event {
            Event::Html(text) | Event::InlineHtml(text) => events.push(Event::Text(text)),
            Event::Start(Tag::Link { .. }) => {
                link_depth += 1;
                events.push(event);
            }
            Event::End(TagEnd::Link) => {
                link_depth = link_depth.saturating_sub(1);
                events.push(event);
            }
            Event::Text(text) if link_depth == 0 => linkify(&text, &mut events),
            other => events.push(other),
        }
    }
    let mut html = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .clean(&html)
        .to_string()
}

/// The deepest nesting of quotes and lists kept.
const MAX_DEPTH: usize = 32;

fn is_container(tag: &Tag<'_>) -> bool {
    matches!(tag, Tag::BlockQuote(_) | Tag::List(_) | Tag::Item)
}

fn is_container_end(tag: &TagEnd) -> bool {
    matches!(tag, TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Item)
}

/// Pushes `text` with each bare `http://` or `https://` URL in it as a link.
fn linkify<'a>(text: &str, events: &mut Vec<Event<'a>>) {
    let mut rest = text;
    while let Some(start) = find_url(rest) {
        let tail = &rest[start..];
        let length = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let url = tail[..length].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
        if !rest[..start].is_empty() {
            events.push(Event::Text(CowStr::from(rest[..start].to_owned())));
        }
        events.push(Event::Start(Tag::Link {
            link_type: LinkType::Autolink,
            dest_url: CowStr::from(url.to_owned()),
            title: CowStr::from(""),
            id: CowStr::from(""),
        }));
        events.push(Event::Text(CowStr::from(url.to_owned())));
        events.push(Event::End(TagEnd::Link));
        rest = &tail[url.len()..];
    }
    if !rest.is_empty() {
        events.push(Event::Text(CowStr::from(rest.to_owned())));
    }
}

fn find_url(text: &str) -> Option<usize> {
    [text.find("https://"), text.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_urls_become_links_and_markup_stays_text() {
        let html = body_html("**Traffic** up; see https://example.com/ddos.\n\n<b>x</b>");
        assert!(html.contains("<strong>Traffic</strong>"), "{html}");
        assert!(html.contains("href=\"https://example.com/ddos\""), "{html}");
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"), "{html}");
    }
}
