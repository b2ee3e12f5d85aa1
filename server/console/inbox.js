// The message center: category tabs with unread badges, filters, the paged list with
// selection and bulk actions, and one message's detail with its deliveries.
//
// "Mark all read" and "Delete all" say how many messages they will touch before asking.
// Without a search or severity filter the number comes from /counts (fetched afresh): the
// unread count, the total, or total minus unread, of the category or of all. With a search
// or severity filter /counts cannot answer, so the console lists the matching messages
// (200 a page) and counts them.

import { itemsOf } from "/console/api.js";
import { formatNumber, h, icon, replace, safeUrl, externalLink, timeElement } from "/console/dom.js";
import { announce, announceError, confirmAction } from "/console/feedback.js";
import { t } from "/console/i18n.js";

export const CATEGORIES = ["account", "product", "security", "exception", "activity", "service"];
export const SEVERITIES = ["info", "warning", "critical"];
const STATUSES = ["all", "unread", "read"];
const DELIVERY_STATUSES = ["pending", "delivered", "retrying", "failed"];
const PAGE_SIZE = 50;

// The filters outlive one rendering, so that going back from a message keeps them.
const filters = { category: "all", status: "all", severity: "", q: "" };

function readFilters(query) {
  if (![...query.keys()].length) return;
  const category = query.get("category");
  const status = query.get("status");
  const severity = query.get("severity");
  filters.category = CATEGORIES.includes(category) ? category : "all";
  filters.status = STATUSES.includes(status) ? status : "all";
  filters.severity = SEVERITIES.includes(severity) ? severity : "";
  filters.q = query.get("q") ?? "";
}

export function inboxHash() {
  const params = new URLSearchParams();
  if (filters.category !== "all") params.set("category", filters.category);
  if (filters.status !== "all") params.set("status", filters.status);
  if (filters.severity) params.set("severity", filters.severity);
  if (filters.q) params.set("q", filters.q);
  const query = params.toString();
  return query ? `#/messages?${query}` : "#/messages";
}

// The filter as the API's list query and bulk `filter` take it.
function apiFilter() {
  const filter = {};
  if (filters.category !== "all") filter.category = filters.category;
  if (filters.status !== "all") filter.status = filters.status;
  if (filters.severity) filter.severity = filters.severity;
  if (filters.q) filter.q = filters.q;
  return filter;
}

function categoryLabel(category) {
  return t(`category.${category}`);
}

function severityChip(severity) {
  const value = SEVERITIES.includes(severity) ? severity : "info";
  return h("span", { class: `severity severity-${value}`, dataset: { severity: value } }, t(`severity.${value}`));
}

export async function renderInbox(container, ctx, query) {
  readFilters(query);
  history.replaceState(null, "", inboxHash());
  const api = ctx.api;
  const messagesPath = api.accountPath("/messages");
  const state = { items: [], cursor: null, selected: new Set(), loadSeq: 0, loading: false, busy: false };
  // Messages that arrived through the live stream while the page was open.
  const fresh = new Set();

  const summary = h("p", { class: "page-lead", id: "inbox-summary" });
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": t("categories.label") });
  const tabButtons = new Map();
  for (const category of ["all", ...CATEGORIES]) {
    const button = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${category}`,
        class: "tab",
        "aria-controls": "message-panel",
        dataset: { category },
        onclick: () => chooseCategory(category),
      },
      h("span", { class: "tab-label" }, categoryLabel(category)),
      h("span", { class: "badge", hidden: true }),
    );
    tabButtons.set(category, button);
    tabs.append(button);
  }
  tabs.addEventListener("keydown", (event) => {
    const order = ["all", ...CATEGORIES];
    const index = order.indexOf(filters.category);
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: order.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = order[(moves[event.key] + order.length) % order.length];
    chooseCategory(next);
    tabButtons.get(next).focus();
  });

  const statusSelect = h(
    "select",
    { id: "filter-status", onchange: () => setFilter("status", statusSelect.value) },
    STATUSES.map((s) => h("option", { value: s, selected: filters.status === s }, t(`status.${s}`))),
  );
  const severitySelect = h(
    "select",
    { id: "filter-severity", onchange: () => setFilter("severity", severitySelect.value) },
    h("option", { value: "", selected: !filters.severity }, t("severity.any")),
    SEVERITIES.map((s) => h("option", { value: s, selected: filters.severity === s }, t(`severity.${s}`))),
  );
  const searchInput = h("input", {
    type: "search",
    id: "filter-q",
    value: filters.q,
    placeholder: t("filter.q.placeholder"),
    autocomplete: "off",
  });
  let searchTimer = null;
  searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => setFilter("q", searchInput.value.trim()), 400);
  });
  const searchForm = h(
    "form",
    {
      class: "search",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        clearTimeout(searchTimer);
        setFilter("q", searchInput.value.trim());
      },
    },
    h("label", { for: "filter-q", class: "visually-hidden" }, t("filter.q")),
    h("span", { class: "search-icon" }, icon("search")),
    searchInput,
    h("button", { type: "submit", class: "button" }, t("filter.search")),
  );
  const filterBar = h(
    "div",
    { class: "toolbar filters" },
    h("div", { class: "inline-field" }, h("label", { for: "filter-status" }, t("filter.status")), statusSelect),
    h("div", { class: "inline-field" }, h("label", { for: "filter-severity" }, t("filter.severity")), severitySelect),
    searchForm,
  );

  const selectAll = h("input", { type: "checkbox", id: "select-all" });
  selectAll.addEventListener("change", () => {
    for (const message of state.items) {
      if (selectAll.checked) state.selected.add(message.id);
      else state.selected.delete(message.id);
    }
    renderRows();
  });
  const selectedText = h("span", { class: "selection-count", id: "selection-count" });
  const markReadButton = h("button", { type: "button", class: "button", id: "action-mark-read", onclick: exclusive(markSelectedRead) }, icon("check"), t("action.markread"));
  const deleteButton = h("button", { type: "button", class: "button button-danger-quiet", id: "action-delete", onclick: exclusive(deleteSelected) }, icon("trash"), t("action.delete"));
  const markAllButton = h("button", { type: "button", class: "button", id: "action-mark-all-read", onclick: exclusive(markAllRead) }, t("action.markallread"));
  const deleteAllButton = h("button", { type: "button", class: "button button-danger-quiet", id: "action-delete-all", onclick: exclusive(deleteAll) }, t("action.deleteall"));
  const refreshButton = h(
    "button",
    { type: "button", class: "icon-button", id: "action-refresh", title: t("messages.refresh"), onclick: () => reload() },
    icon("refresh"),
    h("span", { class: "visually-hidden" }, t("messages.refresh")),
  );
  const actionBar = h(
    "div",
    { class: "toolbar actions" },
    h(
      "div",
      { class: "toolbar-group" },
      h("label", { class: "check select-all", for: "select-all" }, selectAll, h("span", {}, t("messages.select.all"))),
      markReadButton,
      deleteButton,
      selectedText,
    ),
    h("div", { class: "toolbar-group" }, markAllButton, deleteAllButton, refreshButton),
  );

  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "data-table message-table" },
    h("caption", { class: "visually-hidden" }, t("messages.title")),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { class: "col-select", scope: "col" }, h("span", { class: "visually-hidden" }, t("messages.col.select"))),
        h("th", { scope: "col" }, t("messages.col.title")),
        h("th", { scope: "col", class: "col-severity" }, t("messages.col.severity")),
        h("th", { scope: "col", class: "col-category" }, t("messages.col.category")),
        h("th", { scope: "col", class: "col-time" }, t("messages.col.time")),
      ),
    ),
    tbody,
  );
  const empty = h("div", { class: "empty-state", id: "messages-empty", hidden: true });
  const loadMore = h("button", { type: "button", class: "button", id: "load-more", hidden: true, onclick: () => load(false) }, t("messages.loadmore"));
  const listEnd = h("p", { class: "list-end", hidden: true });
  const panel = h(
    "div",
    { id: "message-panel", role: "tabpanel", class: "panel", tabindex: "-1", "aria-busy": "true" },
    h("div", { class: "table-wrap" }, table),
    empty,
    h("div", { class: "list-footer" }, loadMore, listEnd),
  );

  replace(
    container,
    h("div", { class: "page-header" }, h("div", {}, h("h1", { tabindex: "-1" }, t("messages.title")), summary)),
    h("section", { class: "card inbox" }, tabs, filterBar, actionBar, panel),
  );

  const stopCounts = ctx.onCounts((counts) => {
    if (!container.isConnected) {
      stopCounts();
      return;
    }
    renderCounts(counts);
  });
  // New messages that match the filters appear at the top; deleted ones go away.
  const stopLive = ctx.onLive(({ type, data }) => {
    if (!container.isConnected) {
      stopLive();
      return;
    }
    if (type === "message") arrived(data);
    else if (type === "deleted") removed(new Set(data.ids));
    else if (type === "reset") reload();
  });
  renderTabs();
  renderRows();
  ctx.refreshCounts().catch(announceError);
  await load(true);

  function matches(message) {
    if (filters.category !== "all" && message.category !== filters.category) return false;
    if (filters.status === "read" && !message.read) return false;
    if (filters.status === "unread" && message.read) return false;
    if (filters.severity && message.severity !== filters.severity) return false;
    if (filters.q) {
      const q = filters.q.toLowerCase();
      const text = `${message.title}\n${message.body ?? ""}`.toLowerCase();
      if (!text.includes(q)) return false;
    }
    return true;
  }

  function arrived(message) {
    if (state.loading || !matches(message) || state.items.some((m) => m.id === message.id)) return;
    state.items.unshift(message);
    fresh.add(message.id);
    renderRows();
  }

  function removed(ids) {
    const before = state.items.length;
    state.items = state.items.filter((m) => !ids.has(m.id));
    for (const id of ids) state.selected.delete(id);
    if (state.items.length !== before) renderRows();
  }

  function renderTabs() {
    for (const [category, button] of tabButtons) {
      const selected = category === filters.category;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `tab-${filters.category}`);
  }

  function renderCounts(counts) {
    for (const [category, button] of tabButtons) {
      const unread = (category === "all" ? counts.unread : counts.by_category?.[category]?.unread) ?? 0;
      const badge = button.querySelector(".badge");
      badge.hidden = unread === 0;
      badge.textContent = unread > 999 ? "999+" : formatNumber(unread);
      button.dataset.unread = String(unread);
      button.setAttribute("aria-label", unread ? `${categoryLabel(category)}, ${t("badge.unread", { n: unread })}` : categoryLabel(category));
    }
    const scope = filters.category === "all" ? counts : counts.by_category?.[filters.category];
    summary.textContent = t("messages.summary", {
      total: formatNumber(scope?.total ?? 0),
      unread: formatNumber(scope?.unread ?? 0),
    });
    markAllButton.disabled = (scope?.unread ?? 0) === 0 || filters.status === "read";
  }

  function renderRows() {
    replace(tbody, state.items.map(row));
    const onPage = state.items.filter((m) => state.selected.has(m.id)).length;
    selectAll.checked = onPage > 0 && onPage === state.items.length;
    selectAll.indeterminate = onPage > 0 && onPage < state.items.length;
    selectAll.disabled = state.items.length === 0;
    const n = state.selected.size;
    selectedText.textContent = n ? t("messages.selected", { n: formatNumber(n) }) : "";
    markReadButton.disabled = n === 0;
    deleteButton.disabled = n === 0;
    deleteAllButton.disabled = state.items.length === 0 && !state.loading;
    const nothing = state.items.length === 0 && !state.loading;
    table.hidden = nothing;
    empty.hidden = !nothing;
    const filtered = Object.keys(apiFilter()).length > 0;
    replace(empty, icon("inbox"), h("p", {}, filtered ? t("messages.empty") : t("messages.empty.all")));
    loadMore.hidden = !state.cursor;
    listEnd.hidden = Boolean(state.cursor) || state.items.length === 0;
    listEnd.textContent = t("messages.end", { n: formatNumber(state.items.length) });
  }

  function row(message) {
    const checkbox = h("input", {
      type: "checkbox",
      class: "row-select",
      checked: state.selected.has(message.id),
      "aria-label": t("messages.select.row", { title: message.title }),
      dataset: { id: message.id },
    });
    checkbox.addEventListener("change", () => {
      if (checkbox.checked) state.selected.add(message.id);
      else state.selected.delete(message.id);
      renderRows();
      tbody.querySelector(`input[data-id="${CSS.escape(message.id)}"]`)?.focus();
    });
    const meta = [message.subtype, message.resource].filter(Boolean).join(" · ");
    const tr = h(
      "tr",
      { class: `${message.read ? "read" : "unread"}${fresh.has(message.id) ? " arrived" : ""}`, dataset: { id: message.id } },
      h("td", { class: "col-select" }, checkbox),
      h(
        "td",
        { class: "col-title" },
        h(
          "div",
          { class: "title-line" },
          message.read
            ? h("span", { class: "unread-dot read-dot", "aria-hidden": "true" })
            : h("span", { class: "unread-dot", title: t("messages.unread") }, h("span", { class: "visually-hidden" }, t("messages.unread"))),
          h("a", { href: `#/messages/${encodeURIComponent(message.id)}`, class: "message-link" }, message.title),
        ),
        meta ? h("div", { class: "meta" }, meta) : null,
      ),
      h("td", { class: "col-severity" }, severityChip(message.severity)),
      h("td", { class: "col-category" }, categoryLabel(message.category)),
      h("td", { class: "col-time" }, timeElement(message.created_at)),
    );
    tr.addEventListener("click", (event) => {
      if (event.target.closest("a, input, button, label")) return;
      ctx.navigate(`#/messages/${encodeURIComponent(message.id)}`);
    });
    return tr;
  }

  async function load(reset) {
    if (reset) {
      state.loadSeq += 1;
      state.items = [];
      state.cursor = null;
      state.selected.clear();
    }
    const seq = state.loadSeq;
    state.loading = true;
    panel.setAttribute("aria-busy", "true");
    loadMore.disabled = true;
    try {
      const page = await api.get(messagesPath, { ...apiFilter(), limit: PAGE_SIZE, cursor: state.cursor });
      if (seq !== state.loadSeq) return;
      const known = new Set(state.items.map((m) => m.id));
      state.items.push(...itemsOf(page).filter((m) => !known.has(m.id)));
      state.cursor = page?.next_cursor ?? null;
    } catch (error) {
      if (seq === state.loadSeq) announceError(error);
    } finally {
      if (seq === state.loadSeq) {
        state.loading = false;
        loadMore.disabled = false;
        renderRows();
        panel.setAttribute("aria-busy", "false");
      }
    }
  }

  async function reload() {
    await Promise.all([load(true), ctx.refreshCounts().catch(announceError)]);
  }

  function setFilter(name, value) {
    if (filters[name] === value) return;
    filters[name] = value;
    history.replaceState(null, "", inboxHash());
    const counts = ctx.counts();
    if (counts) renderCounts(counts);
    load(true);
  }

  function chooseCategory(category) {
    if (filters.category === category) return;
    filters.category = category;
    renderTabs();
    history.replaceState(null, "", inboxHash());
    const counts = ctx.counts();
    if (counts) renderCounts(counts);
    load(true);
  }

  async function markSelectedRead() {
    const ids = [...state.selected];
    if (!ids.length) return;
    await run(async () => {
      const result = await api.post(`${messagesPath}/mark-read`, { ids });
      announce(t("done.markread", { n: formatNumber(result?.updated ?? 0) }), "success");
    });
  }

  async function deleteSelected() {
    const ids = [...state.selected];
    if (!ids.length) return;
    const text = t("confirm.delete.selected", { n: formatNumber(ids.length) });
    if (!(await confirmAction(text, { okLabel: t("action.delete"), danger: true }))) return;
    await run(async () => {
      const result = await api.post(`${messagesPath}/delete`, { ids });
      announce(t("done.deleted", { n: formatNumber(result?.deleted ?? 0) }), "success");
    });
  }

  async function markAllRead() {
    if (filters.status === "read") {
      announce(t("confirm.nothing.markall"), "info");
      return;
    }
    const n = await countTouched("unread");
    if (n === null) return;
    if (n === 0) {
      announce(t("confirm.nothing.markall"), "info");
      return;
    }
    const text = t("confirm.markall", { n: formatNumber(n), scope: scopeText() });
    if (!(await confirmAction(text, { okLabel: t("action.markallread") }))) return;
    await run(async () => {
      const result = await api.post(`${messagesPath}/mark-read`, { filter: apiFilter() });
      announce(t("done.markread", { n: formatNumber(result?.updated ?? 0) }), "success");
    });
  }

  async function deleteAll() {
    const n = await countTouched(filters.status);
    if (n === null) return;
    if (n === 0) {
      announce(t("confirm.nothing.deleteall"), "info");
      return;
    }
    const text = t("confirm.deleteall", { n: formatNumber(n), scope: scopeText() });
    if (!(await confirmAction(text, { okLabel: t("action.deleteall"), danger: true }))) return;
    await run(async () => {
      const result = await api.post(`${messagesPath}/delete`, { filter: apiFilter() });
      announce(t("done.deleted", { n: formatNumber(result?.deleted ?? 0) }), "success");
    });
  }

  // How many messages of the current filter have `status` (all, unread or read); null when
  // the count failed (the error is announced).
  // The buttons stay enabled while counting (a disabled button drops focus, and the dialog
  // gives focus back to the button that opened it); `state.busy` ignores repeated clicks.
  async function countTouched(status) {
    try {
      if (!filters.q && !filters.severity) {
        const counts = await ctx.refreshCounts();
        const scope = filters.category === "all" ? counts : counts.by_category?.[filters.category];
        const total = scope?.total ?? 0;
        const unread = scope?.unread ?? 0;
        return { all: total, unread, read: total - unread }[status];
      }
      announce(t("confirm.counting"), "info");
      const matching = await api.all(messagesPath, { ...apiFilter(), status });
      return matching.length;
    } catch (error) {
      announceError(error);
      return null;
    } finally {
      const counts = ctx.counts();
      if (counts) renderCounts(counts);
    }
  }

  function scopeText() {
    const parts = [];
    if (filters.category !== "all") parts.push(t("confirm.scope.category", { category: categoryLabel(filters.category) }));
    if (filters.status !== "all") parts.push(t("confirm.scope.status", { status: t(`status.${filters.status}`) }));
    if (filters.severity) parts.push(t("confirm.scope.severity", { severity: t(`severity.${filters.severity}`) }));
    if (filters.q) parts.push(t("confirm.scope.q", { q: filters.q }));
    return parts.length ? parts.join(", ") : t("confirm.scope.everything");
  }

  async function run(action) {
    try {
      await action();
    } catch (error) {
      announceError(error);
    }
    await reload();
    // The button used may now be disabled (nothing selected any more): keep keyboard focus
    // in the message center rather than losing it to the page.
    const focused = document.activeElement;
    if (!focused || focused === document.body || focused.disabled) panel.focus();
  }

  // One bulk action at a time: clicks while one runs are ignored.
  function exclusive(action) {
    return async () => {
      if (state.busy) return;
      state.busy = true;
      try {
        await action();
      } finally {
        state.busy = false;
      }
    };
  }
}

export async function renderMessage(container, ctx, id) {
  const api = ctx.api;
  const messagePath = api.accountPath(`/messages/${encodeURIComponent(id)}`);
  const back = h("a", { href: inboxHash(), class: "back-link", id: "back-to-list" }, icon("back"), t("action.back"));
  replace(container, back, h("h1", { tabindex: "-1", class: "visually-hidden" }, t("detail.title")), h("p", { class: "loading", role: "status" }, t("detail.loading")));
  let message;
  try {
    message = await api.get(messagePath);
  } catch (error) {
    replace(container, back, h("h1", { tabindex: "-1" }, t("detail.title")), h("p", { class: "form-error", role: "alert" }, error.message));
    return;
  }

  const deleteButton = h(
    "button",
    {
      type: "button",
      class: "button button-danger-quiet",
      id: "detail-delete",
      onclick: async () => {
        if (!(await confirmAction(t("confirm.delete.message"), { okLabel: t("action.delete"), danger: true }))) return;
        try {
          await api.delete(messagePath);
          announce(t("done.message.deleted"), "success");
          ctx.refreshCounts().catch(() => {});
          ctx.navigate(inboxHash());
        } catch (error) {
          announceError(error);
        }
      },
    },
    icon("trash"),
    t("action.delete"),
  );

  const link = safeUrl(message.link);
  const facts = [
    [t("detail.time"), timeElement(message.created_at)],
    [t("detail.category"), categoryLabel(message.category)],
    [t("detail.severity"), severityChip(message.severity)],
    [t("detail.subtype"), message.subtype || t("field.none")],
    [t("detail.resource"), message.resource ? h("code", {}, message.resource) : t("field.none")],
    [t("detail.link"), link ? externalLink(link, icon("link"), message.link) : message.link || t("field.none")],
    [t("detail.id"), h("code", {}, message.id)],
  ];
  const body = message.body ? renderedBody(message) : h("p", { class: "muted" }, t("detail.nobody"));
  const deliveries = h("div", { id: "deliveries", "aria-busy": "true" }, h("p", { class: "loading" }, t("loading")));

  replace(
    container,
    back,
    h(
      "div",
      { class: "page-header detail-header" },
      h(
        "div",
        {},
        h("div", { class: "chips" }, severityChip(message.severity), h("span", { class: "chip" }, categoryLabel(message.category))),
        h("h1", { tabindex: "-1", id: "message-title" }, message.title),
      ),
      h("div", { class: "toolbar-group" }, deleteButton),
    ),
    h(
      "div",
      { class: "detail-grid" },
      h("section", { class: "card", "aria-labelledby": "body-title" }, h("h2", { id: "body-title" }, t("detail.body")), body),
      h("section", { class: "card facts" }, h("dl", {}, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]))),
    ),
    h("section", { class: "card", "aria-labelledby": "deliveries-title" }, h("h2", { id: "deliveries-title" }, t("detail.deliveries")), deliveries),
  );

  if (!message.read) {
    api
      .post(api.accountPath("/messages/mark-read"), { ids: [message.id] })
      .then(() => ctx.refreshCounts())
      .catch(announceError);
  }
  renderDeliveries(deliveries, ctx, messagePath);
}

async function renderDeliveries(container, ctx, messagePath) {
  const api = ctx.api;
  let list;
  try {
    list = itemsOf(await api.get(`${messagePath}/deliveries`));
  } catch (error) {
    replace(container, h("p", { class: "form-error", role: "alert" }, error.message));
    container.setAttribute("aria-busy", "false");
    return;
  }
  if (!list.length) {
    replace(container, h("p", { class: "muted" }, t("detail.deliveries.none")));
    container.setAttribute("aria-busy", "false");
    return;
  }
  const names = await targetNames(api);
  const columns = ["target", "plugin", "status", "attempts", "error", "next", "updated"];
  replace(
    container,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "data-table deliveries-table" },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`detail.deliveries.col.${c}`))))),
        h(
          "tbody",
          {},
          list.map((d) =>
            h(
              "tr",
              { dataset: { status: d.status } },
              h("td", { "data-label": t("detail.deliveries.col.target") }, h("span", { class: "muted" }, t(`detail.target.${d.target === "contact" ? "contact" : "channel"}`)), " ", names.get(d.target_id) || d.target_id),
              h("td", { "data-label": t("detail.deliveries.col.plugin") }, d.plugin || t("field.none")),
              h("td", { "data-label": t("detail.deliveries.col.status") }, h("span", { class: `status status-${d.status}` }, DELIVERY_STATUSES.includes(d.status) ? t(`delivery.${d.status}`) : d.status)),
              h("td", { "data-label": t("detail.deliveries.col.attempts") }, String(d.attempts ?? 0)),
              h("td", { "data-label": t("detail.deliveries.col.error"), class: "wrap" }, d.last_error || t("field.none")),
              h("td", { "data-label": t("detail.deliveries.col.next") }, d.next_attempt_at ? timeElement(d.next_attempt_at) : t("field.none")),
              h("td", { "data-label": t("detail.deliveries.col.updated") }, timeElement(d.updated_at)),
            ),
          ),
        ),
      ),
    ),
  );
  container.setAttribute("aria-busy", "false");
}

// Channel and contact names by id, for the deliveries table; ids stand in when the lists
// cannot be read.
async function targetNames(api) {
  const names = new Map();
  const lists = await Promise.allSettled([api.all(api.accountPath("/channels")), api.all(api.accountPath("/contacts"))]);
  for (const result of lists) {
    if (result.status !== "fulfilled") continue;
    for (const item of result.value) names.set(item.id, item.email ? `${item.name} <${item.email}>` : item.name);
  }
  return names;
}

// The server renders the body's Markdown and sanitizes the HTML (no script, no markup from
// the body itself, links to http, https and mailto only), so it is inserted as it comes.
function renderedBody(message) {
  const container = h("div", { class: "markdown", id: "message-body" });
  if (typeof message.body_html === "string") {
    container.innerHTML = message.body_html;
    for (const link of container.querySelectorAll("a")) {
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
  } else {
    container.textContent = message.body;
  }
  return container;
}
