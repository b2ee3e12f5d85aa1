// What the plugin does, apart from the host: reading the configuration, the JSON it posts,
// and what an HTTP status means for the delivery. Nothing here imports the host's
// interfaces, so `npm test` runs it in plain Node.

/** The configuration's JSON Schema: `url` is required, `token` is a secret (`writeOnly`). */
export const CONFIG_SCHEMA = {
  type: 'object',
  required: ['url'],
  additionalProperties: false,
  properties: {
    url: { type: 'string', description: 'Where to POST each delivery (https:// or http://).' },
    token: { type: 'string', description: 'Sent as `Authorization: Bearer <token>`.', writeOnly: true },
  },
};

/**
 * An error that `validateConfig` throws: a component `result<_, string>` takes the
 * exception's `payload` as its error, so the payload must be the string itself (a plain
 * `new Error(text)` has none, and the call fails with "expected a string").
 */
export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.payload = message;
  }
}

/**
 * An error that `send` throws: its `payload` is a case of the WIT variant `send-error`,
 * `{tag: 'retryable' | 'permanent', val: text}` or
 * `{tag: 'rate-limited', val: {retryAfterSecs, message}}`.
 */
export class SendError extends Error {
  constructor(tag, val, message) {
    super(message);
    this.payload = { tag, val };
  }

  /** A passing failure: the host retries with backoff. */
  static retryable(message) {
    return new SendError('retryable', message, message);
  }

  /** Retrying cannot help: the delivery fails at once. */
  static permanent(message) {
    return new SendError('permanent', message, message);
  }

  /** The target throttled us: the host waits `retryAfterSecs` (when known), then retries. */
  static rateLimited(message, retryAfterSecs) {
    return new SendError('rate-limited', { retryAfterSecs, message }, message);
  }
}

/** Parses and checks a configuration; throws a ConfigError naming the field. */
export function parseConfig(text) {
  let config;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`the configuration is not JSON: ${e.message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError('the configuration must be a JSON object');
  }
  for (const field of Object.keys(config)) {
    if (!(field in CONFIG_SCHEMA.properties)) {
      throw new ConfigError(`unknown field '${field}': the fields are url and token`);
    }
  }
  if (typeof config.url !== 'string' || !/^https?:\/\/[^/?#\s@]+/.test(config.url)) {
    throw new ConfigError('url must be an http:// or https:// URL, e.g. https://hooks.example.com/in');
  }
  if (config.token !== undefined && (typeof config.token !== 'string' || config.token === '')) {
    throw new ConfigError('token must be a non-empty string when given');
  }
  return config;
}

/** The JSON body posted for one delivery: every message, oldest first. */
export function render(delivery) {
  return JSON.stringify({
    kind: delivery.kind,
    idempotency_key: delivery.idempotencyKey,
    attempt: delivery.attempt,
    messages: delivery.messages.map((m) => ({
      id: m.id,
      category: m.category,
      severity: m.severity,
      title: m.title,
      body: m.body ?? null,
      link: m.link ?? null,
      created_at: m.createdAt,
    })),
  });
}

/**
 * What an HTTP answer means for the delivery: null when delivered, else the SendError to
 * throw. 429 and 503 are throttling, 408 and other 5xx pass, the rest is permanent.
 */
export function errorForStatus(status, retryAfter, body) {
  if (status >= 200 && status < 300) return null;
  const what = `the target answered HTTP ${status}: ${String(body).slice(0, 200)}`;
  if (status === 429 || status === 503) {
    const secs = /^\d+$/.test(retryAfter ?? '') ? Number(retryAfter) : undefined;
    return SendError.rateLimited(what, secs);
  }
  if (status === 408 || status >= 500) return SendError.retryable(what);
  return SendError.permanent(what);
}
