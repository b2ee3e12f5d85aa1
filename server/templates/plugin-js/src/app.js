// The component's entry point: the `notifier` interface of the WIT world
// `msghub:notifier/channel@0.1.0` (see wit/notifier.wit). Each call runs in a fresh
// instance: keep nothing between calls.

import { log } from 'msghub:notifier/log@0.1.0';
import { CONFIG_SCHEMA, SendError, parseConfig, render } from './channel.js';
import { postJson } from './http.js';

export const notifier = {
  info() {
    return {
      name: '{{name}}',
      version: '0.1.0',
      description: 'Posts each delivery as JSON to a configured URL.',
      configSchema: JSON.stringify(CONFIG_SCHEMA),
      // The only hosts this plugin may reach: the host refuses every other one. Name your
      // service's hosts here ('*.example.com' allows the subdomains), or set
      // userSuppliedHost when the user's configuration names the host.
      hosts: ['hooks.example.com'],
      userSuppliedHost: false,
      rateLimit: undefined,
    };
  },

  // Throws a ConfigError (its payload is the message) to refuse a configuration.
  validateConfig(config) {
    parseConfig(config);
  },

  // Resolves with a receipt, or throws a SendError whose payload is a send-error case.
  async send(config, delivery) {
    const { url, token } = configForSend(config);
    const headers = { 'idempotency-key': delivery.idempotencyKey };
    if (token) headers.authorization = `Bearer ${token}`;
    const status = await postJson(url, render(delivery), headers);
    log('info', `posted ${delivery.messages.length} message(s) to ${new URL(url).host}`);
    return { remoteId: undefined, detail: `HTTP ${status}` };
  },
};

// The host checked the configuration when it was saved; one that no longer passes (an
// older version of this plugin wrote it) cannot be mended by retrying.
function configForSend(text) {
  try {
    return parseConfig(text);
  } catch (e) {
    throw SendError.permanent(e.message);
  }
}
