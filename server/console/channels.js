// Channels: the account's bot channels and webhooks. Create one from a plugin of
// /v1/plugins with a form generated from its config schema, send a test message, delete.

import { itemsOf } from "/console/api.js";
import { field, h, icon, replace, timeElement } from "/console/dom.js";
import { announce, announceError, confirmAction } from "/console/feedback.js";
import { LANGUAGES, t } from "/console/i18n.js";
import { schemaForm } from "/console/schema-form.js";

export async function renderChannels(container, ctx) {
  const api = ctx.api;
  const channelsPath = api.accountPath("/channels");
  const newButton = h("button", { type: "button", class: "button button-primary", id: "channel-new", "aria-expanded": "false", "aria-controls": "channel-create" }, icon("plus"), t("channels.new"));
  const createPanel = h("section", { class: "card form-card", id: "channel-create", hidden: true, "aria-labelledby": "channel-create-title" });
  const list = h("div", { id: "channels-list", "aria-busy": "true" }, h("p", { class: "loading" }, t("channels.loading")));
  replace(
    container,
    h(
      "div",
      { class: "page-header" },
      h("div", {}, h("h1", { tabindex: "-1" }, t("channels.title")), h("p", { class: "page-lead" }, t("channels.lead"))),
      newButton,
    ),
    createPanel,
    h("section", { class: "card" }, list),
  );

  let plugins = null;
  createPanel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeCreate();
    }
  });
  newButton.addEventListener("click", async () => {
    if (!createPanel.hidden) {
      closeCreate();
      return;
    }
    // Plugins load in the background after the server starts: offer those ready, and ask
    // again next time while any is still loading.
    let offered = plugins;
    let loading = false;
    try {
      if (!offered) {
        const all = itemsOf(await api.get("/v1/plugins"));
        offered = all.filter((p) => (p.status ?? "ready") === "ready");
        loading = all.some((p) => p.status === "loading");
        if (!loading) plugins = offered;
      }
    } catch (error) {
      announceError(error);
      return;
    }
    openCreate(offered, loading);
  });

  function closeCreate() {
    createPanel.hidden = true;
    newButton.setAttribute("aria-expanded", "false");
    newButton.focus();
  }

  function openCreate(plugins, loading) {
    const name = h("input", { type: "text", autocomplete: "off", spellcheck: "false" });
    const plugin = h(
      "select",
      {},
      h("option", { value: "" }, t("channels.plugin.choose")),
      plugins.map((p) => h("option", { value: p.name }, p.name)),
    );
    const locale = h(
      "select",
      {},
      h("option", { value: "" }, t("locale.account")),
      LANGUAGES.map((l) => h("option", { value: l.code }, l.label)),
    );
    const description = h("p", { class: "plugin-description", id: "channel-plugin-description" });
    const configFields = h("div", { class: "config-fields" });
    const error = h("p", { class: "form-error", id: "channel-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "button button-primary", id: "channel-submit" }, t("action.create"));
    let config = null;
    plugin.addEventListener("change", () => {
      const chosen = plugins.find((p) => p.name === plugin.value);
      description.textContent = chosen ? [chosen.description, chosen.version ? `v${chosen.version}` : null].filter(Boolean).join(" · ") : "";
      config = chosen ? schemaForm(chosen.config_schema, "channel-config") : null;
      replace(configFields, config?.element ?? null);
    });
    const form = h(
      "form",
      { id: "channel-form", novalidate: true },
      field({ id: "channel-name", label: t("channels.name"), control: name, hint: t("channels.name.hint"), required: true }),
      plugins.length
        ? field({ id: "channel-plugin", label: t("channels.plugin"), control: plugin, required: true })
        : h("p", { class: "form-error" }, t(loading ? "channels.plugins.loading" : "channels.plugins.none")),
      description,
      configFields,
      field({ id: "channel-locale", label: t("locale.label"), control: locale, hint: t("locale.hint") }),
      error,
      h("div", { class: "form-actions" }, submit, h("button", { type: "button", class: "button", onclick: closeCreate }, t("action.cancel"))),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      if (!name.value.trim()) {
        error.textContent = `${t("channels.name")}: ${t("schema.required")}`;
        name.focus();
        return;
      }
      if (!plugin.value || !config) {
        error.textContent = `${t("channels.plugin")}: ${t("schema.required")}`;
        plugin.focus();
        return;
      }
      const read = config.read();
      if (read.error) {
        error.textContent = read.error;
        read.control.focus();
        return;
      }
      submit.disabled = true;
      try {
        const body = { name: name.value.trim(), plugin: plugin.value, config: read.config };
        if (locale.value) body.locale = locale.value;
        const created = await api.post(channelsPath, body);
        announce(t("done.channel.created", { name: created?.name ?? name.value.trim() }), "success");
        createPanel.hidden = true;
        newButton.setAttribute("aria-expanded", "false");
        await load();
        newButton.focus();
      } catch (failure) {
        error.textContent = failure.message;
        const bad = failure.field === "locale" ? locale : failure.field && form.querySelector(`[data-config-key="${CSS.escape(failure.field)}"]`);
        (bad || name).focus();
      } finally {
        submit.disabled = false;
      }
    });
    replace(createPanel, h("h2", { id: "channel-create-title" }, t("channels.new")), form);
    createPanel.hidden = false;
    newButton.setAttribute("aria-expanded", "true");
    name.focus();
  }

  async function load() {
    list.setAttribute("aria-busy", "true");
    let channels;
    try {
      channels = await api.all(channelsPath);
    } catch (error) {
      replace(list, h("p", { class: "form-error", role: "alert" }, error.message));
      list.setAttribute("aria-busy", "false");
      return;
    }
    if (!channels.length) {
      replace(list, h("div", { class: "empty-state" }, icon("plug"), h("p", {}, t("channels.empty"))));
    } else {
      const columns = ["name", "plugin", "config", "created", "actions"];
      replace(
        list,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data-table", id: "channels-table" },
            h("caption", { class: "visually-hidden" }, t("channels.title")),
            h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`channels.col.${c}`))))),
            h("tbody", {}, channels.map(channelRow)),
          ),
        ),
      );
    }
    list.setAttribute("aria-busy", "false");
  }

  function channelRow(channel) {
    const result = h("span", { class: "test-result", "aria-live": "polite", dataset: { channel: channel.id } });
    const testButton = h("button", { type: "button", class: "button button-small channel-test" }, icon("send"), t("action.test"));
    testButton.addEventListener("click", async () => {
      testButton.disabled = true;
      result.className = "test-result";
      result.textContent = t("channels.test.running", { name: channel.name });
      try {
        const outcome = await api.post(`${channelsPath}/${encodeURIComponent(channel.id)}/test`);
        const delivered = outcome?.status === "delivered";
        const text = delivered
          ? t("channels.test.delivered", { name: channel.name })
          : t("channels.test.failed", { name: channel.name, error: outcome?.error ?? outcome?.status ?? "" });
        result.className = `test-result ${delivered ? "ok" : "bad"}`;
        result.dataset.status = outcome?.status ?? "";
        result.textContent = text;
        announce(text, delivered ? "success" : "error");
      } catch (error) {
        result.className = "test-result bad";
        result.dataset.status = "error";
        result.textContent = error.message;
        announceError(error);
      } finally {
        testButton.disabled = false;
      }
    });
    const deleteButton = h("button", { type: "button", class: "button button-small button-danger-quiet channel-delete" }, icon("trash"), t("action.delete"));
    deleteButton.addEventListener("click", async () => {
      if (!(await confirmAction(t("confirm.delete.channel", { name: channel.name }), { okLabel: t("action.delete"), danger: true }))) return;
      try {
        await api.delete(`${channelsPath}/${encodeURIComponent(channel.id)}`);
        announce(t("done.channel.deleted", { name: channel.name }), "success");
        await load();
        newButton.focus();
      } catch (error) {
        announceError(error);
      }
    });
    return h(
      "tr",
      { dataset: { id: channel.id } },
      h("td", { "data-label": t("channels.col.name"), class: "strong" }, channel.name),
      h("td", { "data-label": t("channels.col.plugin") }, h("span", { class: "chip" }, channel.plugin)),
      h("td", { "data-label": t("channels.col.config"), class: "wrap" }, configSummary(channel.config)),
      h("td", { "data-label": t("channels.col.created") }, timeElement(channel.created_at)),
      h("td", { "data-label": t("channels.col.actions") }, h("div", { class: "row-actions" }, testButton, deleteButton), result),
    );
  }

  await load();
}

function configSummary(config) {
  const entries = Object.entries(config ?? {});
  if (!entries.length) return t("field.none");
  return h(
    "dl",
    { class: "config-summary" },
    entries.map(([key, value]) => [
      h("dt", {}, key),
      h("dd", {}, typeof value === "string" ? value : JSON.stringify(value)),
    ]),
  );
}
