"""Core layer: what a command message on `…/set/<setting>` or `…/query` carries.

Two shapes arrive on those topics:

    plain      SBU                                         Home Assistant, users' automations
    envelope   {"value": "SBU", "ts": "2026-12-02T10:00:00.000Z"}      the web (and anyone
               {"command": "QPIRI", "ts": "2026-12-02T10:00:00.000Z"}  who wants an age)

The envelope carries the moment the command was sent, so a reader refuses one that
waited too long in a queue (a client's outbox while the broker was down): a command a
user was told had failed must never run later. A plain payload has no age; readers
take it only live (never from a retained copy: see `services/reader.py`).

Payloads are bounded (`MAX_PAYLOAD`) before anything else looks at them, and a
refusal never echoes the payload back in full (`shown`).

Pure: no I/O, no logging, no MQTT; `now` is passed in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import NamedTuple

from solarstack.core.errors import SettingError

#: Longest command payload taken at all (bytes). The longest real value is a few dozen bytes.
MAX_PAYLOAD = 256
#: Longest value quoted back in a result or a log line.
SHOWN = 40
#: A command older than this (seconds) is refused: it waited in someone's queue.
MAX_AGE_SECONDS = 30.0
#: A sender's clock this far ahead of ours is still believed (same host, or NTP drift).
CLOCK_SKEW_SECONDS = 5.0


class Command(NamedTuple):
    """A command payload, unpacked: the value (or query name) and when it was sent."""

    value: str
    sent: datetime | None  # None for a plain payload


def shown(value: str | bytes, limit: int = SHOWN) -> str:
    """`value` cut to `limit` characters for results and logs (never the whole of a huge payload)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def envelope(value: str, sent: datetime, *, key: str = "value") -> str:
    """The envelope the web publishes: `{"value": …, "ts": …}` (`key="command"` for queries)."""
    ts = sent.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({key: value, "ts": ts}, separators=(",", ":"))


def parse(payload: bytes, now: datetime, *, key: str = "value", max_age: float = MAX_AGE_SECONDS) -> Command:
    """Unpack and check one command payload; SettingError (one line, payload not echoed) if refused."""
    if len(payload) > MAX_PAYLOAD:
        raise SettingError(f"command payload of {len(payload)} bytes refused (at most {MAX_PAYLOAD})")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SettingError("command payload is not UTF-8 text") from None
    if not text.startswith("{"):
        return Command(text, None)
    try:
        body = json.loads(text)
    except ValueError:
        raise SettingError(f"command envelope is not valid JSON: {shown(text)!r}") from None
    if not isinstance(body, dict) or not isinstance(body.get(key), str | int | float) or isinstance(body[key], bool):
        raise SettingError(f'command envelope needs "{key}" (a string or number) and "ts"')
    sent = _timestamp(body.get("ts"))
    age = (now - sent).total_seconds()
    if age > max_age:
        raise SettingError(f"stale command refused: sent {age:.0f} s ago (at most {max_age:g} s)")
    if age < -CLOCK_SKEW_SECONDS:
        raise SettingError(f"command refused: its ts is {-age:.0f} s in the future")
    return Command(str(body[key]).strip(), sent)


def _timestamp(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise SettingError('command envelope needs "ts" (ISO-8601 UTC)')
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingError(f"command envelope ts is not ISO-8601: {shown(raw)!r}") from None
    if ts.tzinfo is None:
        raise SettingError("command envelope ts needs a time zone (…Z)")
    return ts
