// History: who changed what in the account, when, and what it was before and after, newest
// first, filtered by kind and time, a page at a time. Secrets never reach it: the server
// records channels with their configuration redacted.

import { h, icon, replace, timeElement } from "/console/dom.js";
import { t } from "/console/i18n.js";

const KINDS = ["user", "policy", "channel", "contact", "subscription", "retention", "unsubscribe"];
const PAGE = 50;

export async function renderHistory(container, ctx) {
  const api = ctx.api;
  const path = api.accountPath("/history");
  const state = { cursor: null, filter: {}, items: [] };

  const kindSelect = h(
    "select",
    { id: "history-kind" },
    h("option", { value: "" }, t("history.kind.all")),
    KINDS.map((kind) => h("option", { value: kind }, t(`history.kind.${kind}`))),
  );
  const since = h("input", { type: "datetime-local", id: "history-since" });
  const until = h("input", { type: "datetime-local", id: "history-until" });
  const error = h("p", { class: "form-error", id: "history-error", role: "alert" });
  const filterForm = h(
    "form",
    {
      class: "toolbar filters",
      id: "history-filters",
      onsubmit: (event) => {
        event.preventDefault();
        applyFilter();
      },
    },
    h("div", { class: "inline-field" }, h("label", { for: "history-kind" }, t("history.filter.kind")), kindSelect),
    h("div", { class: "inline-field" }, h("label", { for: "history-since" }, t("history.filter.since")), since),
    h("div", { class: "inline-field" }, h("label", { for: "history-until" }, t("history.filter.until")), until),
    h("button", { type: "submit", class: "button" }, t("history.filter.apply")),
  );
  const tbody = h("tbody");
  const columns = ["at", "who", "what", "target", "change"];
  const table = h(
    "table",
    { class: "data-table", id: "history-table" },
    h("caption", { class: "visually-hidden" }, t("history.title")),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`history.col.${c}`))))),
    tbody,
  );
  const empty = h("div", { class: "empty-state", id: "history-empty", hidden: true }, icon("refresh"), h("p", {}, t("history.empty")));
  const loadMore = h("button", { type: "button", class: "button", id: "history-more", hidden: true, onclick: () => load(false) }, t("history.loadmore"));
  const panel = h(
    "div",
    { id: "history-list", "aria-busy": "true" },
    h("div", { class: "table-wrap" }, table),
    empty,
    h("div", { class: "list-footer" }, loadMore),
  );
  replace(
    container,
    h("div", { class: "page-header" }, h("div", {}, h("h1", { tabindex: "-1" }, t("history.title")), h("p", { class: "page-lead" }, t("history.lead")))),
    h("section", { class: "card" }, filterForm, error, panel),
  );

  function applyFilter() {
    error.textContent = "";
    const filter = {};
    if (kindSelect.value) filter.kind = kindSelect.value;
    for (const [name, control] of [["since", since], ["until", until]]) {
      if (!control.value) continue;
      const instant = new Date(control.value);
      if (Number.isNaN(instant.getTime())) {
        error.textContent = `${t(`history.filter.${name}`)}: ${t("history.filter.badtime")}`;
        control.focus();
        return;
      }
      filter[name] = instant.toISOString();
    }
    state.filter = filter;
    load(true);
  }

  async function load(fresh) {
    panel.setAttribute("aria-busy", "true");
    loadMore.disabled = true;
    let page;
    try {
      page = await api.get(path, { ...state.filter, limit: PAGE, cursor: fresh ? null : state.cursor });
    } catch (failure) {
      error.textContent = failure.message;
      panel.setAttribute("aria-busy", "false");
      loadMore.disabled = false;
      return;
    }
    state.items = fresh ? page.items : state.items.concat(page.items);
    state.cursor = page.next_cursor ?? null;
    replace(tbody, state.items.map(changeRow));
    empty.hidden = state.items.length > 0;
    table.hidden = state.items.length === 0;
    loadMore.hidden = !state.cursor;
    loadMore.disabled = false;
    panel.setAttribute("aria-busy", "false");
  }

  await load(true);
}

function changeRow(change) {
  return h(
    "tr",
    { dataset: { id: change.id, kind: change.kind } },
    h("td", { "data-label": t("history.col.at") }, timeElement(change.at)),
    h("td", { "data-label": t("history.col.who") }, who(change.actor)),
    h(
      "td",
      { "data-label": t("history.col.what"), class: "strong" },
      `${t(`history.kind.${change.kind}`)} · ${t(`history.action.${change.action}`)}`,
    ),
    h("td", { "data-label": t("history.col.target") }, h("code", {}, change.target)),
    h("td", { "data-label": t("history.col.change"), class: "history-change" }, describe(change)),
  );
}

function who(actor) {
  if (actor?.kind === "user") return h("span", {}, t("history.who.user"), " ", h("code", {}, actor.user_id));
  return t(`history.who.${actor?.kind ?? "operator"}`);
}

// Fields every record carries that say nothing about the change itself.
const BOOKKEEPING = ["id", "created_at", "updated_at", "account_id"];

// A change in a few lines: the fields that differ, or the whole thing created or deleted.
function describe(change) {
  const { before, after } = change;
  if (before && after) {
    const lines = Object.keys(after)
      .filter((key) => !BOOKKEEPING.includes(key))
      .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
      .map((key) => h("li", {}, h("span", { class: "history-field" }, key), ": ", show(before[key]), " → ", show(after[key])));
    return lines.length ? h("ul", { class: "history-diff" }, lines) : "—";
  }
  const whole = after ?? before;
  if (!whole) return "—";
  const lines = Object.entries(whole)
    .filter(([key]) => !BOOKKEEPING.includes(key))
    .map(([key, value]) => h("li", {}, h("span", { class: "history-field" }, key), ": ", show(value)));
  return h("ul", { class: "history-diff" }, lines);
}

function show(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}
