// A minimal, safe Markdown for message bodies: paragraphs (single newlines kept as line
// breaks), headings, lists, quotes, fenced code, `code`, **bold**, *italic*, [links](url)
// and bare http(s) URLs. It builds DOM nodes directly; anything it does not understand
// stays literal text. Links go to http, https or mailto only.

import { externalLink, h, safeUrl } from "/console/dom.js";

export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i += 1;
      continue;
    }
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      const code = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        code.push(lines[i]);
        i += 1;
      }
      i += 1;
      fragment.append(h("pre", {}, h("code", {}, code.join("\n"))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const level = Math.min(6, heading[1].length + 2);
      fragment.append(h(`h${level}`, {}, inline(heading[2].replace(/\s+#+\s*$/, ""))));
      i += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^\s*>\s?/, ""));
        i += 1;
      }
      fragment.append(h("blockquote", {}, renderMarkdown(quoted.join("\n"))));
      continue;
    }
    const bullet = /^\s*[-*+]\s+/;
    const numbered = /^\s*\d{1,9}[.)]\s+/;
    if (bullet.test(line) || numbered.test(line)) {
      const marker = bullet.test(line) ? bullet : numbered;
      const items = [];
      while (i < lines.length && marker.test(lines[i])) {
        items.push(h("li", {}, inline(lines[i].replace(marker, ""))));
        i += 1;
      }
      fragment.append(h(marker === bullet ? "ul" : "ol", {}, items));
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      fragment.append(h("hr"));
      i += 1;
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() !== "" && !startsBlock(lines[i])) {
      paragraph.push(lines[i].trim());
      i += 1;
    }
    if (paragraph.length === 0) {
      paragraph.push(line.trim());
      i += 1;
    }
    const p = h("p");
    paragraph.forEach((text, index) => {
      if (index > 0) p.append(h("br"));
      p.append(inline(text));
    });
    fragment.append(p);
  }
  return fragment;
}

function startsBlock(line) {
  return /^(\s*(```|~~~)|#{1,6}\s|\s*>|\s*[-*+]\s+|\s*\d{1,9}[.)]\s+)/.test(line);
}

// Inline spans, leftmost first; text between them stays text.
const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s](?:[^*]*[^*\s])?)\*|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>"')\]]+)/;

function inline(text) {
  const fragment = document.createDocumentFragment();
  let rest = text;
  while (rest.length > 0) {
    const match = rest.match(INLINE);
    if (!match) {
      fragment.append(document.createTextNode(rest));
      break;
    }
    if (match.index > 0) fragment.append(document.createTextNode(rest.slice(0, match.index)));
    fragment.append(span(match));
    rest = rest.slice(match.index + match[0].length);
  }
  return fragment;
}

function span(match) {
  const [whole, code, bold, boldUnderscore, italic, label, href, bare] = match;
  if (code !== undefined) return h("code", {}, code);
  if (bold !== undefined || boldUnderscore !== undefined) return h("strong", {}, inline(bold ?? boldUnderscore));
  if (italic !== undefined) return h("em", {}, inline(italic));
  if (label !== undefined) {
    const url = safeUrl(href);
    return url ? externalLink(url, inline(label)) : document.createTextNode(whole);
  }
  const trimmed = bare.replace(/[.,;:!?]+$/, "");
  const url = safeUrl(trimmed);
  const node = url ? externalLink(url, trimmed) : document.createTextNode(trimmed);
  if (trimmed.length === bare.length) return node;
  const fragment = document.createDocumentFragment();
  fragment.append(node, document.createTextNode(bare.slice(trimmed.length)));
  return fragment;
}
