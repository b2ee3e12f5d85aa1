// `fetch` inside the msghub host, with its failures turned into the WIT's `send-error`.
// The host's sandbox answers a request to an undeclared host or a refused address with a
// network error; so does a target that is down. Neither has a status: fetch rejects.

import { SendError, errorForStatus } from './channel.js';

/**
 * POSTs `body` (JSON text) to `url`; resolves with the answer's status when the target took
 * it, throws a SendError otherwise.
 */
export async function postJson(url, body, headers = {}) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  } catch (e) {
    // A refusal by the sandbox cannot be mended by retrying, but from here it looks like
    // any other network error; the host's log names the reason. Retrying keeps a passing
    // outage from losing the message.
    throw SendError.retryable(`the request to ${new URL(url).host} failed: ${e?.message ?? e}`);
  }
  const text = await response.text();
  const error = errorForStatus(response.status, response.headers.get('retry-after'), text);
  if (error) throw error;
  return response.status;
}
