// The live connection of the console: one Server-Sent Events stream of the signed-in
// account (GET /v1/accounts/{account}/events), opened with a one-time ticket because an
// EventSource cannot send the Authorization header. Counts go to the shell's badges, new and
// deleted messages to whichever page listens. When the stream drops, it reconnects by itself
// with a fresh ticket and the last event id, so nothing is missed; a `reset` (changes were
// missed) asks the listeners to reload.

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;

export class Live {
  // `api` is the signed-in Api; `onCounts(counts)` receives every counts event;
  // `onSignedOut()` runs when the server no longer accepts the token.
  constructor(api, { onCounts, onSignedOut }) {
    this.api = api;
    this.onCounts = onCounts;
    this.onSignedOut = onSignedOut;
    this.listeners = new Set();
    this.source = null;
    this.lastId = null;
    this.retry = RETRY_MIN_MS;
    this.timer = null;
    this.stopped = false;
    this.connected = false;
  }

  // Adds a listener of { type: "message" | "deleted" | "reset", data }; returns the
  // function that removes it.
  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.connected = false;
    document.documentElement.dataset.live = "off";
  }

  async connect() {
    if (this.stopped) return;
    let ticket;
    try {
      const answer = await this.api.post(this.api.accountPath("/events/ticket"));
      ticket = answer?.ticket;
    } catch (error) {
      if (error.status === 401) {
        this.stop();
        this.onSignedOut?.();
        return;
      }
      this.later();
      return;
    }
    if (this.stopped || !ticket) return;
    const params = new URLSearchParams({ ticket });
    if (this.lastId) params.set("last_event_id", this.lastId);
    const source = new EventSource(`${this.api.accountPath("/events")}?${params}`);
    this.source = source;
    const remember = (event) => {
      if (event.lastEventId) this.lastId = event.lastEventId;
    };
    source.addEventListener("open", () => {
      this.connected = true;
      this.retry = RETRY_MIN_MS;
      document.documentElement.dataset.live = "on";
    });
    source.addEventListener("counts", (event) => {
      remember(event);
      this.onCounts?.(JSON.parse(event.data));
    });
    for (const type of ["message", "deleted", "reset"]) {
      source.addEventListener(type, (event) => {
        remember(event);
        const data = JSON.parse(event.data);
        for (const listener of this.listeners) listener({ type, data });
      });
    }
    source.addEventListener("closed", (event) => {
      remember(event);
      this.drop();
    });
    // A stream cut off (or refused): the browser would retry with the spent ticket, so the
    // console closes it and reconnects with a new one.
    source.addEventListener("error", () => this.drop());
  }

  drop() {
    this.source?.close();
    this.source = null;
    this.connected = false;
    document.documentElement.dataset.live = "off";
    this.later();
  }

  later() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const wait = this.retry;
    this.retry = Math.min(this.retry * 2, RETRY_MAX_MS);
    this.timer = setTimeout(() => this.connect(), wait);
  }
}
