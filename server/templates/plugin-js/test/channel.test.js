// Tests of src/channel.js, in plain Node: `npm test`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, errorForStatus, parseConfig, render } from '../src/channel.js';

const message = (title) => ({
  id: 'm1', accountId: 'acc', category: 'security', severity: 'critical', title,
  body: '**bold**', link: undefined, createdAt: '2026-01-01T00:00:00Z',
});

test('a configuration without an http URL is refused, naming the field', () => {
  assert.throws(() => parseConfig('{"url": "ftp://x"}'), (e) => e instanceof ConfigError && e.payload.startsWith('url must be'));
  assert.throws(() => parseConfig('{"url": "https://x", "tokn": "t"}'), (e) => e.payload.includes("unknown field 'tokn'"));
  assert.equal(parseConfig('{"url": "https://hooks.example.com/in"}').url, 'https://hooks.example.com/in');
});

test('a digest posts every message, oldest first', () => {
  const body = JSON.parse(render({
    kind: 'digest', idempotencyKey: 'key-1', attempt: 1, timestampMs: 1n,
    messages: [message('first'), message('second')],
  }));
  assert.equal(body.kind, 'digest');
  assert.deepEqual(body.messages.map((m) => m.title), ['first', 'second']);
  assert.equal(body.messages[0].link, null);
});

test('statuses map to the send-error cases', () => {
  assert.equal(errorForStatus(204, null, ''), null);
  assert.deepEqual(errorForStatus(429, '30', 'slow down').payload, {
    tag: 'rate-limited', val: { retryAfterSecs: 30, message: 'the target answered HTTP 429: slow down' },
  });
  assert.equal(errorForStatus(502, null, '').payload.tag, 'retryable');
  assert.equal(errorForStatus(404, null, '').payload.tag, 'permanent');
});
