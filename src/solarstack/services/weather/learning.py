"""Services layer: what the PV forecast learns from — the site's own PV energy, over MQTT.

Every device whose catalogue (`<prefix>/+/catalog`) has a field of role `pv_energy_today`
is a PV producer; each of its state messages gives that counter at the message's `ts`. The
sum over producers, taken in each local hour, is handed to core/pvforecast.py's `Learner`
(the arithmetic is there, pure). After WEATHER_LEARN_HOUR local time the day is closed
once: the weather state's uncorrected model of today (`pv_forecast_model_today`) is compared
with what was made, and the learner's state is written to a file in STATE_DIR (`FILE`) — at
most once a day (SD cards wear out). Local time is the weather answer's (`utc_offset`).

MQTT messages arrive in paho's thread and are handed to the event loop; the learner is only
touched there. `correction()` is read by the device in a worker thread: it returns an
immutable snapshot replaced after each evening.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from solarstack.core import catalog
from solarstack.core.fields import Value
from solarstack.core.pvforecast import Learner
from solarstack.core.topics import Topics

log = logging.getLogger(__name__)
ROLE = "pv_energy_today"
FILE = "pv-forecast.json"


class Subscriber(Protocol):
    def subscribe(self, topic_filter: str, handler: Any, *, retained: bool = True) -> None: ...


class SiteLearning:
    def __init__(self, state_dir: Path, prefix: str, learn_hour: int, own_id: str) -> None:
        self.path = Path(state_dir) / FILE
        self.topics = Topics(prefix)
        self.learn_hour = learn_hour
        self.own_id = own_id
        self.offset = 0  # seconds east of UTC: the weather answer's, set by `evening`
        self.learner = Learner(self._load())
        self.producers: dict[str, str] = {}  # device -> its pv_energy_today key
        self._latest: dict[str, tuple[str, float]] = {}  # device -> (local day, kWh today)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._snapshot: tuple[list[float], float | None] = (self.learner.factors(), self.learner.mape())

    # -- persistence ----------------------------------------------------------------------------

    def _load(self) -> Mapping[str, Any] | None:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s unreadable (%s): the PV forecast starts learning afresh", self.path, exc)
            return None
        return doc if isinstance(doc, dict) else None

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.learner.state()))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot write %s: %s (the correction is kept in memory)", self.path, exc)

    # -- the device reads this ------------------------------------------------------------------

    def correction(self) -> tuple[list[float], float | None]:
        factors, mape = self._snapshot
        return list(factors), mape

    # -- inputs from MQTT -----------------------------------------------------------------------

    def attach(self, mqtt: Subscriber, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        mqtt.subscribe(self.topics.all("catalog"), self._from_thread(self.on_catalog))
        mqtt.subscribe(self.topics.all("state"), self._from_thread(self.on_state))

    def _from_thread(self, fn: Any) -> Any:
        def handler(topic: str, payload: bytes) -> None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(fn, topic, payload)

        return handler

    def on_catalog(self, topic: str, payload: bytes) -> None:
        parsed = self.topics.parse(topic)
        if parsed is None or parsed.device == self.own_id or not payload:
            return
        try:
            fields = catalog.parse(payload).by_role(ROLE)
        except ValueError:
            return
        if fields and self.producers.get(parsed.device) != fields[0].key:
            self.producers[parsed.device] = fields[0].key
            log.info("PV forecast learns from %s.%s", parsed.device, fields[0].key)

    def on_state(self, topic: str, payload: bytes, offset: int | None = None) -> None:
        parsed = self.topics.parse(topic)
        key = self.producers.get(parsed.device) if parsed else None
        if parsed is None or key is None:
            return
        try:
            state = json.loads(payload)
            ts = datetime.fromisoformat(str(state["ts"]).replace("Z", "+00:00"))
            kwh = float(state[key])
        except (ValueError, KeyError, TypeError):
            return
        local = ts.astimezone(UTC) + timedelta(seconds=self.offset if offset is None else offset)
        day = local.date().isoformat()
        self._latest[parsed.device] = (day, kwh)
        total = sum(v for d, v in self._latest.values() if d == day)
        self.learner.actual(day, local.hour, total)

    # -- the evening ------------------------------------------------------------------------------

    def evening(self, weather: Mapping[str, Value], now: datetime | None = None) -> bool:
        """Close today once it is past the learning hour (True when it was closed just now)."""
        raw_offset = weather.get("utc_offset")
        if isinstance(raw_offset, int):
            self.offset = raw_offset
        if not weather.get("pv_forecast_day"):
            return False  # no forecast fetched yet (just started): wait for one before judging the day
        local = (now or datetime.now(UTC)).astimezone(UTC) + timedelta(seconds=self.offset)
        day = local.date().isoformat()
        if local.hour < self.learn_hour or (self.learner.closed is not None and self.learner.closed >= day):
            return False
        model = weather.get("pv_forecast_model_today")
        if weather.get("pv_forecast_day") == day and isinstance(model, list):
            self.learner.forecast(day, [float(x) for x in model])
        result = self.learner.close(day)
        mape = self.learner.mape()
        log.info(
            "PV forecast %s: %s%s; MAPE %s",
            day,
            result.reason,
            f" (actual/model {result.ratio:.2f})" if result.ratio is not None else "",
            f"{mape:.1f} %" if mape is not None else "not known yet",
        )
        self._snapshot = (self.learner.factors(), mape)
        self._save()
        return True
