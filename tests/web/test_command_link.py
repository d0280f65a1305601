"""Issue 8, item 3: a command reaches the broker now or fails now, and carries its age.

Through a real Mosquitto that is stopped and started again: with the link down the web
answers 503 at once and nothing is queued; a recorder with a persistent session (kept by
the broker across the restart) sees everything the web publishes after it reconnects.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from web_support import TOKEN, DemoSite, Recorder, wait_for, web_settings

from solarstack.core import command as command_payload
from solarstack.core.errors import SettingError
from solarstack.services.web.main import build

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SET = {"device": "inverter", "setting": "output_source_priority", "value": "sbu"}


class SessionRecorder:
    """A QoS 1 subscriber with a persistent session: the broker queues for it while it is away."""

    def __init__(self, broker: Any, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = False
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: setattr(self, "subscribed", True)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(lambda: self.subscribed, 5, what="recorder subscribed")

    def topics(self) -> list[str]:
        return [t for t, _ in list(self.messages)]

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def outage_broker(mosquitto_factory: Any) -> Any:
    return mosquitto_factory(persistence=True)


def test_command_while_broker_is_down_fails_at_once_and_never_runs_later(outage_broker: Any) -> None:
    site = DemoSite(outage_broker).start()
    running = build(web_settings(outage_broker, WEB_COMMAND_TIMEOUT="2"))
    rec = SessionRecorder(outage_broker, "solarstack/#")
    try:
        client = running.app.test_client()
        wait_for(lambda: client.get("/api/data").get_json()["devices"].get("inverter", {}).get("settings"), 10)

        outage_broker.stop()
        wait_for(lambda: not running.client.connected, 10, what="web sees the outage")
        started = time.monotonic()
        resp = client.post("/api/command", json=SET, headers=AUTH)
        took = time.monotonic() - started
        assert resp.status_code == 503, resp.get_json()
        assert "not sent" in resp.get_json()["error"]
        assert took < 0.5, f"refused after {took:.2f} s, not at once"
        query = client.post("/api/command", json={"device": "inverter", "command": "QPIRI"}, headers=AUTH)
        assert query.status_code == 503

        outage_broker.start()
        wait_for(lambda: running.client.connected, 40, interval=0.05, what="web reconnected")
        # The web's own client publishes a marker: anything it had queued would go out before it.
        running.client.publish("solarstack/marker/set/x", "end")
        wait_for(lambda: "solarstack/marker/set/x" in rec.topics(), 20, what="marker")
        commands = [t for t in rec.topics() if t.startswith("solarstack/inverter/") and "result" not in t]
        commands = [t for t in commands if "/set/" in t or t.endswith("/query")]
        assert commands == [], f"refused commands were published after the outage: {commands}"
        assert site.commands == []
    finally:
        rec.stop()
        running.shutdown()
        site.stop()


def test_command_payload_carries_its_age_so_a_late_copy_is_refused(mosquitto: Any, site: DemoSite) -> None:
    running = build(web_settings(mosquitto))
    rec = Recorder(mosquitto, "solarstack/inverter/#")
    try:
        client = running.app.test_client()
        wait_for(lambda: client.get("/api/data").get_json()["devices"].get("inverter", {}).get("settings"), 10)
        sent = datetime.now(UTC)
        assert client.post("/api/command", json=SET, headers=AUTH).status_code == 200
        assert (
            client.post("/api/command", json={"device": "inverter", "command": "QMOD"}, headers=AUTH).status_code == 200
        )

        # The answers came back through the web's own client; the recorder is another subscriber,
        # and the broker may deliver to it a moment later.
        wanted = {"solarstack/inverter/set/output_source_priority", "solarstack/inverter/query"}
        wait_for(lambda: wanted <= set(rec.topics()), 5, what="both commands seen by the recorder")
        with rec.lock:
            published = dict(rec.messages)
        setting = published["solarstack/inverter/set/output_source_priority"]
        query = published["solarstack/inverter/query"]
        assert command_payload.parse(setting, sent).value == "sbu"
        assert command_payload.parse(query, sent, key="command").value == "QMOD"
        # A copy delivered 31 s later (e.g. re-sent by paho after a reconnect) is refused as stale.
        late = sent + timedelta(seconds=command_payload.MAX_AGE_SECONDS + 1)
        with pytest.raises(SettingError, match="stale"):
            command_payload.parse(setting, late)
        with pytest.raises(SettingError, match="stale"):
            command_payload.parse(query, late, key="command")
    finally:
        rec.stop()
        running.shutdown()
