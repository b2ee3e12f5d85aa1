"""Tests of channel.py, in plain CPython: `python3 -m unittest`."""

import json
import unittest
from enum import Enum
from types import SimpleNamespace

from channel import ConfigError, outcome_of_status, parse_config, render


class Kind(Enum):
    SINGLE = 0
    DIGEST = 1


class Category(Enum):
    SECURITY = 2


class Severity(Enum):
    CRITICAL = 2


def message(title):
    return SimpleNamespace(
        id="m1", category=Category.SECURITY, severity=Severity.CRITICAL, title=title,
        body="**bold**", link=None, created_at="2026-01-01T00:00:00Z",
    )


class ChannelTest(unittest.TestCase):
    def test_a_configuration_without_an_http_url_is_refused_naming_the_field(self):
        with self.assertRaisesRegex(ConfigError, "^url must be"):
            parse_config('{"url": "ftp://x"}')
        with self.assertRaisesRegex(ConfigError, "unknown field 'tokn'"):
            parse_config('{"url": "https://x", "tokn": "t"}')
        self.assertEqual(parse_config('{"url": "https://hooks.example.com/in"}')["url"], "https://hooks.example.com/in")

    def test_a_digest_posts_every_message_oldest_first(self):
        delivery = SimpleNamespace(
            kind=Kind.DIGEST, idempotency_key="key-1", attempt=1,
            messages=[message("first"), message("second")],
        )
        body = json.loads(render(delivery))
        self.assertEqual(body["kind"], "digest")
        self.assertEqual([m["title"] for m in body["messages"]], ["first", "second"])
        self.assertEqual(body["messages"][0]["severity"], "critical")

    def test_statuses_map_to_the_outcomes_the_host_knows(self):
        self.assertEqual(outcome_of_status(204), "delivered")
        self.assertEqual(outcome_of_status(429), "rate-limited")
        self.assertEqual(outcome_of_status(502), "retryable")
        self.assertEqual(outcome_of_status(404), "permanent")


if __name__ == "__main__":
    unittest.main()
