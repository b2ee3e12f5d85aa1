// What the console tells the person: the live status region (read out by screen readers)
// and the modal confirmation dialog. The dialog is the native <dialog>: showModal() makes
// the rest of the page inert, so focus stays inside it, and Escape cancels; focus goes back
// to where it was when the dialog closes.

import { h, icon, replace } from "/console/dom.js";
import { t } from "/console/i18n.js";

let clearTimer = null;

// kind: "success" | "error" | "info". Errors stay until replaced or dismissed.
export function announce(message, kind = "info") {
  const region = document.getElementById("status");
  clearTimeout(clearTimer);
  const dismiss = h(
    "button",
    { type: "button", class: "icon-button toast-close", onclick: () => replace(region) },
    icon("close"),
    h("span", { class: "visually-hidden" }, t("action.close")),
  );
  replace(
    region,
    h("div", { class: `toast toast-${kind}`, dataset: { kind } },
      h("span", { class: "toast-text" }, kind === "error" ? `${t("error.prefix")}: ${message}` : message),
      dismiss),
  );
  if (kind !== "error") clearTimer = setTimeout(() => replace(region), 8000);
}

export function announceError(error) {
  announce(error?.message || String(error), "error");
}

// Resolves true when the person confirms, false on Cancel or Escape.
export function confirmAction(text, { okLabel, danger = false } = {}) {
  const dialog = document.getElementById("confirm");
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  const returnTo = document.activeElement;
  document.getElementById("confirm-title").textContent = t("confirm.title");
  document.getElementById("confirm-text").textContent = text;
  ok.textContent = okLabel || t("action.confirm");
  ok.className = danger ? "button button-danger" : "button button-primary";
  cancel.textContent = t("action.cancel");
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (returnTo instanceof HTMLElement && returnTo.isConnected) returnTo.focus();
        resolve(dialog.returnValue === "ok");
      },
      { once: true },
    );
    dialog.showModal();
    (danger ? cancel : ok).focus();
  });
}
