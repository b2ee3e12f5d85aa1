"""The component's entry point: the `notifier` interface of the WIT world
`msghub:notifier/channel@0.1.0` (see wit/notifier.wit). Each call runs in a fresh
instance: keep nothing between calls."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.notifier import (
    Delivery,
    PluginInfo,
    RateLimited,
    Receipt,
    SendError_Permanent,
    SendError_RateLimited,
    SendError_Retryable,
)
from wit_world.imports.log import Level, log

import blocking_http
from channel import CONFIG_SCHEMA, ConfigError, outcome_of_status, parse_config, render


class Notifier(exports.Notifier):
    def info(self) -> PluginInfo:
        return PluginInfo(
            name="{{name}}",
            version="0.1.0",
            description="Posts each delivery as JSON to a configured URL.",
            config_schema=json.dumps(CONFIG_SCHEMA),
            # The only hosts this plugin may reach: the host refuses every other one. Name
            # your service's hosts here ("*.example.com" allows the subdomains), or set
            # user_supplied_host when the user's configuration names the host.
            hosts=["hooks.example.com"],
            user_supplied_host=False,
            rate_limit=None,
        )

    def validate_config(self, config: str) -> None:
        # An error is `raise Err(value)` with the WIT's error type: here a string.
        try:
            parse_config(config)
        except ConfigError as e:
            raise Err(str(e)) from None

    def send(self, config: str, delivery: Delivery) -> Receipt:
        # Errors are `raise Err(SendError_...(...))`, one case of the WIT's send-error;
        # `raise Err("text")` is not a send-error and fails the call.
        try:
            settings = parse_config(config)
        except ConfigError as e:
            # Saved by an older version of this plugin: retrying cannot mend it.
            raise Err(SendError_Permanent(str(e))) from None
        headers = {"content-type": "application/json", "idempotency-key": delivery.idempotency_key}
        if settings.get("token"):
            headers["authorization"] = f"Bearer {settings['token']}"
        try:
            response = blocking_http.post(settings["url"], render(delivery), headers)
        except blocking_http.HttpError as e:
            if e.kind in ("denied", "invalid"):
                raise Err(SendError_Permanent(str(e))) from None
            raise Err(SendError_Retryable(str(e))) from None
        outcome = outcome_of_status(response.status)
        what = f"the target answered HTTP {response.status}: {response.body[:200].decode('utf-8', 'replace')}"
        if outcome == "rate-limited":
            retry_after = response.header("retry-after")
            secs = int(retry_after) if retry_after and retry_after.strip().isdigit() else None
            raise Err(SendError_RateLimited(RateLimited(retry_after_secs=secs, message=what)))
        if outcome == "retryable":
            raise Err(SendError_Retryable(what))
        if outcome == "permanent":
            raise Err(SendError_Permanent(what))
        log(Level.INFO, f"posted {len(delivery.messages)} message(s), HTTP {response.status}")
        return Receipt(remote_id=None, detail=f"HTTP {response.status}")
