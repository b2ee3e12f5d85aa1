"""What the plugin does, apart from the host: reading the configuration, the JSON it posts,
and what an HTTP status means for the delivery. Nothing here imports the host's
interfaces, so `python3 -m unittest` runs it in plain CPython."""

import json
import re

# The configuration's JSON Schema: `url` is required, `token` is a secret (`writeOnly`).
CONFIG_SCHEMA = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "description": "Where to POST each delivery (https:// or http://)."},
        "token": {"type": "string", "description": "Sent as `Authorization: Bearer <token>`.", "writeOnly": True},
    },
}


class ConfigError(ValueError):
    """A configuration the plugin refuses; the message names the field."""


def parse_config(text: str) -> dict:
    """Parses and checks a configuration; raises ConfigError naming the field."""
    try:
        config = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"the configuration is not JSON: {e}") from None
    if not isinstance(config, dict):
        raise ConfigError("the configuration must be a JSON object")
    for field in config:
        if field not in CONFIG_SCHEMA["properties"]:
            raise ConfigError(f"unknown field '{field}': the fields are url and token")
    url = config.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/?#\s@]+", url):
        raise ConfigError("url must be an http:// or https:// URL, e.g. https://hooks.example.com/in")
    token = config.get("token")
    if token is not None and (not isinstance(token, str) or token == ""):
        raise ConfigError("token must be a non-empty string when given")
    return config


def render(delivery) -> bytes:
    """The JSON body posted for one delivery: every message, oldest first."""
    return json.dumps(
        {
            "kind": delivery.kind.name.lower(),
            "idempotency_key": delivery.idempotency_key,
            "attempt": delivery.attempt,
            "messages": [
                {
                    "id": m.id,
                    "category": m.category.name.lower(),
                    "severity": m.severity.name.lower(),
                    "title": m.title,
                    "body": m.body,
                    "link": m.link,
                    "created_at": m.created_at,
                }
                for m in delivery.messages
            ],
        }
    ).encode()


def outcome_of_status(status: int) -> str:
    """What an HTTP status means: "delivered", "rate-limited" (429, 503), "retryable"
    (408, other 5xx) or "permanent" (everything else, redirects included: the host does
    not follow them)."""
    if 200 <= status < 300:
        return "delivered"
    if status in (429, 503):
        return "rate-limited"
    if status == 408 or status >= 500:
        return "retryable"
    return "permanent"
