// The HTTP client of the console: one signed-in account, bearer auth, the API's error shape
// turned into an ApiError whose message is the server's own `error.message`.

import { t } from "/console/i18n.js";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field ?? null;
  }
}

export class Api {
  // `onUnauthenticated` runs when the server stops accepting the token (401).
  constructor({ account, token }, onUnauthenticated) {
    this.account = account;
    this.token = token;
    this.onUnauthenticated = onUnauthenticated;
  }

  accountPath(path = "") {
    return `/v1/accounts/${encodeURIComponent(this.account)}${path}`;
  }

  get(path, query) {
    return this.request("GET", path + queryString(query));
  }

  post(path, body) {
    return this.request("POST", path, body ?? {});
  }

  put(path, body) {
    return this.request("PUT", path, body);
  }

  delete(path) {
    return this.request("DELETE", path);
  }

  // Every item of a paged list, following next_cursor to the end.
  async all(path, query = {}) {
    const items = [];
    let cursor = null;
    do {
      const page = await this.get(path, { ...query, limit: 200, cursor });
      items.push(...itemsOf(page));
      cursor = page?.next_cursor ?? null;
    } while (cursor);
    return items;
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, "network", t("error.network"));
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (response.ok) return data;
    const error = data?.error;
    const failure = new ApiError(
      response.status,
      error?.code ?? "http",
      error?.message || t("error.http", { status: `${response.status} ${response.statusText}`.trim() }),
      error?.field,
    );
    if (response.status === 401 && this.onUnauthenticated) this.onUnauthenticated(failure);
    throw failure;
  }
}

// Lists answer pages ({items, next_cursor}); a few answer plain arrays.
export function itemsOf(answer) {
  if (Array.isArray(answer)) return answer;
  return answer?.items ?? [];
}

function queryString(query) {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}
