// Subscriptions: per category, which subtypes from which severity go to which contacts and
// channels, one by one or as a digest on a cron schedule, and the quiet hours during which
// deliveries wait. Saving PUTs the whole
// subscription of the category; deleting leaves the category to the inbox alone.

import { itemsOf } from "/console/api.js";
import { field, h, icon, replace } from "/console/dom.js";
import { announce, announceError, confirmAction } from "/console/feedback.js";
import { t } from "/console/i18n.js";
import { CATEGORIES, SEVERITIES } from "/console/inbox.js";

export async function renderSubscriptions(container, ctx) {
  const api = ctx.api;
  const subscriptionsPath = api.accountPath("/subscriptions");
  const grid = h("div", { class: "subscription-grid", id: "subscriptions", "aria-busy": "true" }, h("p", { class: "loading" }, t("subscriptions.loading")));
  replace(
    container,
    h("div", { class: "page-header" }, h("div", {}, h("h1", { tabindex: "-1" }, t("subscriptions.title")), h("p", { class: "page-lead" }, t("subscriptions.lead")))),
    grid,
  );

  let contacts = [];
  let channels = [];
  let subscriptions = new Map();

  async function load() {
    grid.setAttribute("aria-busy", "true");
    try {
      const [subs, contactList, channelList] = await Promise.all([
        api.get(subscriptionsPath),
        api.all(api.accountPath("/contacts")),
        api.all(api.accountPath("/channels")),
      ]);
      subscriptions = new Map(itemsOf(subs).map((s) => [s.category, s]));
      contacts = contactList;
      channels = channelList;
    } catch (error) {
      replace(grid, h("p", { class: "form-error", role: "alert" }, error.message));
      grid.setAttribute("aria-busy", "false");
      return;
    }
    replace(grid, CATEGORIES.map((category) => card(category, subscriptions.get(category) ?? null)));
    grid.setAttribute("aria-busy", "false");
  }

  function nameOf(list, id) {
    return list.find((x) => x.id === id)?.name ?? id;
  }

  function summary(subscription) {
    if (!subscription) return h("p", { class: "muted" }, t("subscriptions.notconfigured"));
    const subtypes = subscription.subtypes?.length ? subscription.subtypes.join(", ") : t("subscriptions.subtypes.all");
    const severity = t(`severity.${subscription.min_severity ?? "info"}`);
    const targets = [
      ...(subscription.contacts ?? []).map((id) => nameOf(contacts, id)),
      ...(subscription.channels ?? []).map((id) => nameOf(channels, id)),
    ];
    const digest = subscription.digest
      ? t("subscriptions.digest.summary", { cron: subscription.digest.cron, timezone: subscription.digest.timezone ?? "UTC" })
      : t("subscriptions.immediate");
    const quietHours = subscription.quiet_hours;
    const quiet = quietHours
      ? t("subscriptions.quiet.summary", {
          start: quietHours.start,
          end: quietHours.end,
          timezone: quietHours.timezone,
          pass: quietHours.pass?.length ? quietHours.pass.map((s) => t(`severity.${s}`)).join(", ") : t("field.none"),
        })
      : t("subscriptions.quiet.none");
    return h(
      "dl",
      { class: "subscription-summary" },
      h("dt", {}, t("subscriptions.subtypes")),
      h("dd", {}, subtypes),
      h("dt", {}, t("subscriptions.minseverity")),
      h("dd", {}, severity),
      h("dt", {}, t("subscriptions.summary.targets", { contacts: subscription.contacts?.length ?? 0, channels: subscription.channels?.length ?? 0 })),
      h("dd", {}, targets.length ? targets.join(", ") : t("field.none")),
      h("dt", { class: "visually-hidden" }, t("subscriptions.digest")),
      h("dd", {}, digest),
      h("dt", { class: "visually-hidden" }, t("subscriptions.quiet")),
      h("dd", { class: "subscription-quiet" }, quiet),
    );
  }

  function card(category, subscription) {
    const prefix = `sub-${category}`;
    const label = t(`category.${category}`);
    const body = h("div", { class: "subscription-body" }, summary(subscription));
    const edit = h(
      "button",
      { type: "button", class: "button button-small", id: `${prefix}-edit` },
      subscription ? t("action.edit") : t("subscriptions.set"),
    );
    const section = h(
      "section",
      { class: "card subscription", "aria-labelledby": `${prefix}-title`, dataset: { category, configured: String(Boolean(subscription)) } },
      h(
        "div",
        { class: "subscription-head" },
        h("h2", { id: `${prefix}-title` }, label),
        h("span", { class: `chip ${subscription ? "chip-on" : ""}` }, subscription ? t("subscriptions.configured") : t("subscriptions.notconfigured")),
      ),
      body,
      h("div", { class: "form-actions" }, edit),
    );
    // While the form is open its own Cancel closes it; the Edit button waits hidden.
    edit.addEventListener("click", () => {
      replace(body, editor(category, subscription, () => {
        replace(body, summary(subscription));
        edit.hidden = false;
        edit.focus();
      }));
      edit.hidden = true;
      body.querySelector("input, select")?.focus();
    });
    return section;
  }

  function checkboxGroup(legend, name, items, chosen, emptyText, describe) {
    const set = new Set(chosen ?? []);
    return h(
      "fieldset",
      { class: "check-group", id: name },
      h("legend", {}, legend),
      items.length
        ? items.map((item) =>
            h(
              "label",
              { class: "check" },
              h("input", { type: "checkbox", name, value: item.id, checked: set.has(item.id) }),
              " ",
              describe(item),
            ),
          )
        : h("p", { class: "muted" }, emptyText),
    );
  }

  function editor(category, subscription, close) {
    const prefix = `sub-${category}`;
    const label = t(`category.${category}`);
    const subtypes = h("input", { type: "text", value: (subscription?.subtypes ?? []).join(", "), autocomplete: "off", spellcheck: "false" });
    const minSeverity = h(
      "select",
      {},
      SEVERITIES.map((s) => h("option", { value: s, selected: (subscription?.min_severity ?? "info") === s }, t(`severity.${s}`))),
    );
    const contactGroup = checkboxGroup(t("subscriptions.contacts"), `${prefix}-contacts`, contacts, subscription?.contacts, t("subscriptions.contacts.none"), (c) => [h("span", {}, c.name), " ", h("span", { class: "muted" }, c.email)]);
    const channelGroup = checkboxGroup(t("subscriptions.channels"), `${prefix}-channels`, channels, subscription?.channels, t("subscriptions.channels.none"), (c) => [h("span", {}, c.name), " ", h("span", { class: "chip" }, c.plugin)]);
    const digestOn = h("input", { type: "checkbox", id: `${prefix}-digest`, checked: Boolean(subscription?.digest) });
    const cron = h("input", { type: "text", value: subscription?.digest?.cron ?? "0 0 9 * * *", autocomplete: "off", spellcheck: "false" });
    const timezone = h("input", {
      type: "text",
      value: subscription?.digest?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC",
      autocomplete: "off",
      spellcheck: "false",
    });
    const digestFields = h(
      "div",
      { class: "digest-fields", hidden: !digestOn.checked },
      field({ id: `${prefix}-cron`, label: t("subscriptions.digest.cron"), control: cron, hint: t("subscriptions.digest.cron.hint") }),
      field({ id: `${prefix}-timezone`, label: t("subscriptions.digest.timezone"), control: timezone, hint: t("subscriptions.digest.timezone.hint") }),
    );
    digestOn.addEventListener("change", () => (digestFields.hidden = !digestOn.checked));
    const quietOn = h("input", { type: "checkbox", id: `${prefix}-quiet`, checked: Boolean(subscription?.quiet_hours) });
    const quietStart = h("input", { type: "time", value: subscription?.quiet_hours?.start ?? "22:00" });
    const quietEnd = h("input", { type: "time", value: subscription?.quiet_hours?.end ?? "07:00" });
    const quietZone = h("input", {
      type: "text",
      value: subscription?.quiet_hours?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC",
      autocomplete: "off",
      spellcheck: "false",
    });
    const passing = new Set(subscription?.quiet_hours?.pass ?? ["critical"]);
    const quietPass = h(
      "fieldset",
      { class: "check-group", id: `${prefix}-quiet-pass` },
      h("legend", {}, t("subscriptions.quiet.pass")),
      SEVERITIES.map((s) =>
        h("label", { class: "check" }, h("input", { type: "checkbox", name: `${prefix}-quiet-pass`, value: s, checked: passing.has(s) }), " ", t(`severity.${s}`)),
      ),
    );
    const quietFields = h(
      "div",
      { class: "digest-fields", hidden: !quietOn.checked },
      field({ id: `${prefix}-quiet-start`, label: t("subscriptions.quiet.start"), control: quietStart }),
      field({ id: `${prefix}-quiet-end`, label: t("subscriptions.quiet.end"), control: quietEnd, hint: t("subscriptions.quiet.end.hint") }),
      field({ id: `${prefix}-quiet-timezone`, label: t("subscriptions.digest.timezone"), control: quietZone, hint: t("subscriptions.digest.timezone.hint") }),
      quietPass,
    );
    quietOn.addEventListener("change", () => (quietFields.hidden = !quietOn.checked));
    const error = h("p", { class: "form-error", id: `${prefix}-error`, role: "alert" });
    const save = h("button", { type: "submit", class: "button button-primary", id: `${prefix}-save` }, t("action.save"));
    const remove = subscription
      ? h("button", { type: "button", class: "button button-danger-quiet", id: `${prefix}-delete` }, icon("trash"), t("action.delete"))
      : null;
    const form = h(
      "form",
      { id: `${prefix}-form`, novalidate: true, class: "subscription-form" },
      field({ id: `${prefix}-subtypes`, label: t("subscriptions.subtypes"), control: subtypes, hint: t("subscriptions.subtypes.hint") }),
      field({ id: `${prefix}-min-severity`, label: t("subscriptions.minseverity"), control: minSeverity }),
      contactGroup,
      channelGroup,
      h("div", { class: "field field-check" }, h("label", { for: `${prefix}-digest` }, digestOn, " ", t("subscriptions.digest"))),
      digestFields,
      h("div", { class: "field field-check" }, h("label", { for: `${prefix}-quiet` }, quietOn, " ", t("subscriptions.quiet"))),
      quietFields,
      error,
      h("div", { class: "form-actions" }, save, remove, h("button", { type: "button", class: "button", onclick: close }, t("action.cancel"))),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const body = {
        min_severity: minSeverity.value,
        contacts: [...form.querySelectorAll(`input[name="${prefix}-contacts"]:checked`)].map((x) => x.value),
        channels: [...form.querySelectorAll(`input[name="${prefix}-channels"]:checked`)].map((x) => x.value),
      };
      const names = subtypes.value.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
      if (names.length) body.subtypes = names;
      if (digestOn.checked) body.digest = { cron: cron.value.trim(), timezone: timezone.value.trim() };
      if (quietOn.checked) {
        body.quiet_hours = {
          start: quietStart.value,
          end: quietEnd.value,
          timezone: quietZone.value.trim(),
          pass: [...form.querySelectorAll(`input[name="${prefix}-quiet-pass"]:checked`)].map((x) => x.value),
        };
      }
      save.disabled = true;
      try {
        await api.put(`${subscriptionsPath}/${category}`, body);
        announce(t("done.subscription.saved", { category: label }), "success");
        await load();
        document.getElementById(`${prefix}-edit`)?.focus();
      } catch (failure) {
        error.textContent = failure.message;
        const focusFor = {
          cron,
          timezone,
          subtypes,
          min_severity: minSeverity,
          "quiet_hours.start": quietStart,
          "quiet_hours.end": quietEnd,
          "quiet_hours.timezone": quietZone,
        };
        const target = focusFor[failure.field] ?? (failure.field === "digest" ? cron : null);
        target?.focus();
      } finally {
        save.disabled = false;
      }
    });
    remove?.addEventListener("click", async () => {
      if (!(await confirmAction(t("confirm.delete.subscription", { category: label }), { okLabel: t("action.delete"), danger: true }))) return;
      try {
        await api.delete(`${subscriptionsPath}/${category}`);
        announce(t("done.subscription.deleted", { category: label }), "success");
        await load();
        document.getElementById(`${prefix}-edit`)?.focus();
      } catch (failure) {
        announceError(failure);
      }
    });
    return form;
  }

  await load();
}
