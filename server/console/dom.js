// Building the page from data. Every piece of text reaches the DOM as a text node or an
// attribute value, never as markup: nothing here parses HTML.

import { language, t } from "/console/i18n.js";

// h("a", { href, class: "x", onclick: fn }, "text", child, [more]) builds an element.
// Props starting with "on" are listeners; value/checked/disabled/hidden/indeterminate are
// set as properties; null, undefined and false props and children are skipped.
const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "indeterminate", "selected"]);

export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (PROPERTIES.has(name)) {
      element[name] = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

// Small line icons, drawn from path data of our own.
const ICONS = {
  check: "M4 12.5l5 5L20 6.5",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  refresh: "M20 12a8 8 0 1 1-2.34-5.66M20 4v5h-5",
  search: "M11 18a7 7 0 1 1 0-14 7 7 0 0 1 0 14zM16 16l4.5 4.5",
  back: "M15 5l-7 7 7 7",
  plus: "M12 5v14M5 12h14",
  send: "M4 12l16-8-6 16-2.5-6.5L4 12z",
  inbox: "M4 13l2.5-8h11L20 13v6H4v-6zM4 13h5l1 2h4l1-2h5",
  plug: "M9 3v5M15 3v5M6 8h12v3a6 6 0 0 1-12 0V8zM12 17v4",
  mail: "M4 6h16v12H4V6zM4 7l8 6 8-6",
  bell: "M12 4a5 5 0 0 0-5 5v3.5L5.5 16h13L17 12.5V9a5 5 0 0 0-5-5zM10 19a2 2 0 0 0 4 0",
  link: "M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 0 0-5.66-5.66l-1 1M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 0 0 5.66 5.66l1-1",
  close: "M6 6l12 12M18 6L6 18",
};

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

export function formatTime(iso) {
  if (!iso) return t("time.never");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(language(), {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }).format(date);
}

export function timeElement(iso) {
  return h("time", { datetime: iso || null, title: iso || null }, formatTime(iso));
}

export function formatNumber(n) {
  return new Intl.NumberFormat(language()).format(n);
}

// A link only to the web or to mail: a message's link or body cannot run script.
export function safeUrl(raw) {
  if (typeof raw !== "string") return null;
  try {
    const url = new URL(raw.trim(), window.location.origin);
    return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

export function externalLink(url, ...children) {
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, ...children);
}

let uniqueId = 0;
export function nextId(prefix) {
  uniqueId += 1;
  return `${prefix}-${uniqueId}`;
}

// A labelled control with an optional hint, wired with for/aria-describedby.
export function field({ id, label, control, hint, required }) {
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  if (required) control.setAttribute("aria-required", "true");
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label, required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  );
}
