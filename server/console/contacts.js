// Contacts: the people and mailboxes that subscriptions send email to.

import { field, h, icon, replace, timeElement } from "/console/dom.js";
import { announce, announceError, confirmAction } from "/console/feedback.js";
import { LANGUAGES, t } from "/console/i18n.js";

export async function renderContacts(container, ctx) {
  const api = ctx.api;
  const contactsPath = api.accountPath("/contacts");
  const name = h("input", { type: "text", autocomplete: "off" });
  const email = h("input", { type: "email", autocomplete: "off", spellcheck: "false" });
  const locale = h(
    "select",
    {},
    h("option", { value: "" }, t("locale.account")),
    LANGUAGES.map((l) => h("option", { value: l.code }, l.label)),
  );
  const error = h("p", { class: "form-error", id: "contact-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "button button-primary", id: "contact-submit" }, icon("plus"), t("action.add"));
  const form = h(
    "form",
    { id: "contact-form", class: "inline-form", novalidate: true },
    field({ id: "contact-name", label: t("contacts.name"), control: name, required: true }),
    field({ id: "contact-email", label: t("contacts.email"), control: email, required: true }),
    field({ id: "contact-locale", label: t("locale.label"), control: locale, hint: t("locale.hint") }),
    h("div", { class: "form-actions" }, submit),
  );
  const list = h("div", { id: "contacts-list", "aria-busy": "true" }, h("p", { class: "loading" }, t("contacts.loading")));
  replace(
    container,
    h("div", { class: "page-header" }, h("div", {}, h("h1", { tabindex: "-1" }, t("contacts.title")), h("p", { class: "page-lead" }, t("contacts.lead")))),
    h("section", { class: "card form-card", "aria-labelledby": "contact-new-title" }, h("h2", { id: "contact-new-title" }, t("contacts.new")), form, error),
    h("section", { class: "card" }, list),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    for (const [control, label] of [[name, t("contacts.name")], [email, t("contacts.email")]]) {
      if (!control.value.trim()) {
        error.textContent = `${label}: ${t("schema.required")}`;
        control.focus();
        return;
      }
    }
    submit.disabled = true;
    try {
      const body = { name: name.value.trim(), email: email.value.trim() };
      if (locale.value) body.locale = locale.value;
      const created = await api.post(contactsPath, body);
      announce(t("done.contact.created", { name: created?.name ?? name.value.trim() }), "success");
      name.value = "";
      email.value = "";
      locale.value = "";
      await load();
      name.focus();
    } catch (failure) {
      error.textContent = failure.message;
      ({ email, locale }[failure.field] ?? name).focus();
    } finally {
      submit.disabled = false;
    }
  });

  async function load() {
    list.setAttribute("aria-busy", "true");
    let contacts;
    try {
      contacts = await api.all(contactsPath);
    } catch (failure) {
      replace(list, h("p", { class: "form-error", role: "alert" }, failure.message));
      list.setAttribute("aria-busy", "false");
      return;
    }
    if (!contacts.length) {
      replace(list, h("div", { class: "empty-state" }, icon("mail"), h("p", {}, t("contacts.empty"))));
    } else {
      const columns = ["name", "email", "locale", "created", "actions"];
      replace(
        list,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "data-table", id: "contacts-table" },
            h("caption", { class: "visually-hidden" }, t("contacts.title")),
            h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`contacts.col.${c}`))))),
            h("tbody", {}, contacts.map(contactRow)),
          ),
        ),
      );
    }
    list.setAttribute("aria-busy", "false");
  }

  function contactRow(contact) {
    const remove = h("button", { type: "button", class: "button button-small button-danger-quiet contact-delete" }, icon("trash"), t("action.delete"));
    remove.addEventListener("click", async () => {
      if (!(await confirmAction(t("confirm.delete.contact", { name: contact.name }), { okLabel: t("action.delete"), danger: true }))) return;
      try {
        await api.delete(`${contactsPath}/${encodeURIComponent(contact.id)}`);
        announce(t("done.contact.deleted", { name: contact.name }), "success");
        await load();
        name.focus();
      } catch (failure) {
        announceError(failure);
      }
    });
    return h(
      "tr",
      { dataset: { id: contact.id } },
      h("td", { "data-label": t("contacts.col.name"), class: "strong" }, contact.name),
      h("td", { "data-label": t("contacts.col.email") }, contact.email),
      h("td", { "data-label": t("contacts.col.locale") }, languageName(contact.locale)),
      h("td", { "data-label": t("contacts.col.created") }, timeElement(contact.created_at)),
      h("td", { "data-label": t("contacts.col.actions") }, remove),
    );
  }

  await load();
}

// The name of a locale code, or the words for the account's default.
function languageName(code) {
  return LANGUAGES.find((l) => l.code === code)?.label ?? t("locale.account");
}
