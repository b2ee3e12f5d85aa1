// The console's shell: the session (account id and token, kept in sessionStorage), the
// sign-in page, the hash router that picks a page, the shared unread counts behind the
// badges (kept current by the live event stream), and the language switch. Pages live in
// their own modules and get a context: { api, counts, navigate, refreshCounts, onCounts,
// onLive }.

import { Api } from "/console/api.js";
import { field, h, replace } from "/console/dom.js";
import { announce, announceError } from "/console/feedback.js";
import { LANGUAGES, language, setLanguage, t } from "/console/i18n.js";
import { renderChannels } from "/console/channels.js";
import { renderContacts } from "/console/contacts.js";
import { renderHistory } from "/console/history.js";
import { renderInbox, renderMessage } from "/console/inbox.js";
import { Live } from "/console/live.js";
import { renderSubscriptions } from "/console/subscriptions.js";

const SESSION_KEY = "msghub.session";
const LAST_ACCOUNT_KEY = "msghub.account";

const view = document.getElementById("view");
let session = loadSession();
let api = session ? new Api(session, signedOutByServer) : null;
let counts = null;
const countListeners = new Set();
let renderedOnce = false;
let live = null;
startLive();

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    return saved?.account && saved?.token ? saved : null;
  } catch {
    return null;
  }
}

function signIn(newSession) {
  session = newSession;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  localStorage.setItem(LAST_ACCOUNT_KEY, session.account);
  api = new Api(session, signedOutByServer);
  counts = null;
  startLive();
}

// The live stream of the signed-in account: its counts update the badges at once.
function startLive() {
  live?.stop();
  live = null;
  if (!api) return;
  live = new Live(api, { onCounts: setCounts, onSignedOut: signedOutByServer });
  live.start();
}

function setCounts(fresh) {
  counts = fresh;
  for (const listener of countListeners) listener(counts);
}

function signOut(message) {
  sessionStorage.removeItem(SESSION_KEY);
  live?.stop();
  live = null;
  session = null;
  api = null;
  counts = null;
  renderShell();
  if (location.hash && location.hash !== "#/signin") location.hash = "#/signin";
  else route();
  if (message) announce(message, "info");
}

function signedOutByServer() {
  if (session) signOut(t("signin.expired"));
}

// Unread counts, shared by the badges of the inbox tabs and of the navigation.
async function refreshCounts() {
  if (!api) return null;
  setCounts(await api.get(api.accountPath("/counts")));
  return counts;
}

function onCounts(listener) {
  countListeners.add(listener);
  if (counts) listener(counts);
  return () => countListeners.delete(listener);
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function context() {
  return {
    api,
    counts: () => counts,
    navigate,
    refreshCounts,
    onCounts,
    // Listens to new and deleted messages and resets of the live stream; returns the
    // function that stops listening.
    onLive: (listener) => live?.listen(listener) ?? (() => {}),
  };
}

// The parts of the page outside the view: header, navigation, language picker.
function renderShell() {
  document.getElementById("skip-link").textContent = t("app.skip");
  document.getElementById("brand-product").textContent = t("app.product");
  document.getElementById("lang-label").textContent = t("lang.label");
  document.getElementById("menu-button-label").textContent = t("menu.open");
  document.title = `msghub · ${t("app.product")}`;
  const signedIn = Boolean(session);
  const chip = document.getElementById("account-chip");
  chip.hidden = !signedIn;
  if (signedIn) {
    replace(
      chip,
      h("span", { class: "account-label" }, t("header.account")),
      " ",
      h("span", { class: "account-name", title: session.account }, session.name || session.account),
    );
  }
  const signout = document.getElementById("signout-button");
  signout.hidden = !signedIn;
  signout.textContent = t("header.signout");
  const nav = document.getElementById("sidenav");
  nav.hidden = !signedIn;
  nav.setAttribute("aria-label", t("nav.label"));
  document.getElementById("menu-button").hidden = !signedIn;
  for (const link of nav.querySelectorAll("a[data-section]")) {
    const section = link.dataset.section;
    replace(link, h("span", { class: "nav-text" }, t(`nav.${section}`)), section === "messages" ? navBadge() : null);
  }
  if (counts) updateNavBadge(counts);
}

function navBadge() {
  return h("span", { class: "badge nav-badge", id: "nav-unread", hidden: true });
}

function updateNavBadge(current) {
  const badge = document.getElementById("nav-unread");
  if (!badge) return;
  const unread = current?.unread ?? 0;
  badge.hidden = unread === 0;
  badge.textContent = unread > 99 ? "99+" : String(unread);
  badge.setAttribute("aria-label", t("badge.unread", { n: unread }));
}

countListeners.add(updateNavBadge);

function setupLanguagePicker() {
  const select = document.getElementById("lang-select");
  replace(select, LANGUAGES.map((l) => h("option", { value: l.code, selected: l.code === language() }, l.label)));
  select.addEventListener("change", () => {
    setLanguage(select.value);
    renderShell();
    route();
  });
}

function setupChrome() {
  document.getElementById("signout-button").addEventListener("click", () => signOut(t("signin.signedout")));
  const menu = document.getElementById("menu-button");
  const nav = document.getElementById("sidenav");
  menu.addEventListener("click", () => {
    const open = !nav.classList.contains("open");
    nav.classList.toggle("open", open);
    menu.setAttribute("aria-expanded", String(open));
  });
  nav.addEventListener("click", (event) => {
    if (event.target.closest("a")) {
      nav.classList.remove("open");
      menu.setAttribute("aria-expanded", "false");
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && nav.classList.contains("open")) {
      nav.classList.remove("open");
      menu.setAttribute("aria-expanded", "false");
      menu.focus();
    }
  });
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

function markSection(section) {
  for (const link of document.querySelectorAll("#sidenav a[data-section]")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  const { parts, query } = parseHash();
  const container = h("div", { class: "view" });
  replace(view, container);
  if (!session) {
    markSection(null);
    view.dataset.view = "signin";
    renderSignIn(container);
    return;
  }
  const [section = "messages", id] = parts;
  if (section === "signin" || parts.length === 0) {
    navigate("#/messages");
    return;
  }
  markSection(section);
  if (!counts) refreshCounts().catch(() => {});
  view.dataset.view = id ? `${section}-detail` : section;
  const ctx = context();
  const pages = {
    messages: () => (id ? renderMessage(container, ctx, id) : renderInbox(container, ctx, query)),
    channels: () => renderChannels(container, ctx),
    contacts: () => renderContacts(container, ctx),
    subscriptions: () => renderSubscriptions(container, ctx),
    history: () => renderHistory(container, ctx),
  };
  const page = pages[section];
  if (!page) {
    view.dataset.view = "not-found";
    replace(
      container,
      h("h1", { tabindex: "-1" }, t("notfound.title")),
      h("p", {}, t("notfound.body"), " ", h("a", { href: "#/messages" }, t("nav.messages"))),
    );
  } else {
    try {
      await page();
    } catch (error) {
      announceError(error);
    }
  }
  if (renderedOnce) container.querySelector("h1")?.focus({ preventScroll: false });
  renderedOnce = true;
}

function renderSignIn(container) {
  const fromUrl = new URLSearchParams(location.search).get("account");
  const account = h("input", {
    type: "text",
    name: "account",
    autocomplete: "username",
    spellcheck: "false",
    value: fromUrl || localStorage.getItem(LAST_ACCOUNT_KEY) || "",
    required: true,
  });
  const token = h("input", { type: "password", name: "token", autocomplete: "current-password", required: true });
  const error = h("p", { class: "form-error", id: "signin-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "button button-primary button-block" }, t("signin.submit"));
  const form = h(
    "form",
    { class: "signin-form", id: "signin", novalidate: true },
    field({ id: "signin-account", label: t("signin.account"), control: account, hint: t("signin.account.hint") }),
    field({ id: "signin-token", label: t("signin.token"), control: token, hint: t("signin.token.hint") }),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const candidate = { account: account.value.trim(), token: token.value.trim() };
    if (!candidate.account || !candidate.token) {
      error.textContent = t("signin.required");
      (candidate.account ? token : account).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t("signin.busy");
    try {
      const probe = new Api(candidate, null);
      const found = await probe.get(probe.accountPath());
      signIn({ ...candidate, name: found?.name ?? null });
      renderShell();
      navigate("#/messages");
    } catch (failure) {
      error.textContent = failure.message;
      submit.disabled = false;
      submit.textContent = t("signin.submit");
      token.focus();
    }
  });
  replace(
    container,
    h(
      "section",
      { class: "signin card", "aria-labelledby": "signin-title" },
      h("div", { class: "signin-mark", "aria-hidden": "true" }, h("img", { src: "/console/favicon.svg", alt: "", width: 40, height: 40 })),
      h("h1", { id: "signin-title", tabindex: "-1" }, t("signin.title")),
      h("p", { class: "lead" }, t("signin.lead")),
      form,
    ),
  );
  (account.value ? token : account).focus();
}

// While the live stream is down (a proxy that buffers, a server restarting), the badges are
// refreshed now and then instead.
setInterval(() => {
  if (session && !live?.connected && document.visibilityState === "visible") refreshCounts().catch(() => {});
}, 30000);

setupLanguagePicker();
setupChrome();
renderShell();
window.addEventListener("hashchange", route);
route();
