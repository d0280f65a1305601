"""The web against the real chain: PI30 simulator (TCP) -> `solarstack run inverter` -> Mosquitto -> web.

Nothing here is published by the test: the catalogue, state and read-backs all come from the
inverter reader talking PI30 to the simulator, with HA_DISCOVERY=off (the web reads no
discovery), so the console's allow-list, the MQTT command and refresh topics and the
read-back contract are checked against their real counterparts.
"""

from __future__ import annotations

from typing import Any

from web_support import TOKEN, Recorder, wait_for, web_settings

from solarstack.services.web.main import build

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_console_changes_the_simulators_output_priority(mosquitto: Any, real_inverter: str) -> None:
    running = build(web_settings(mosquitto))
    try:
        client = running.app.test_client()

        def device() -> dict[str, Any]:
            return dict(client.get("/api/data").get_json()["devices"].get(real_inverter, {}))

        wait_for(lambda: device().get("settings") and device().get("state", {}).get("output_source_priority"), 20)
        dev = device()
        assert dev["availability"] == "online"
        assert dev["kind"] == "inverter" and dev["protocol"] == "pi30"
        assert dev["fields"]["battery_voltage"]["unit"] == "V"
        assert dev["fields"]["grid_power"]["role"] == "grid_power"
        assert "QPIRI" in dev["queries"]
        options = dev["settings"]["output_source_priority"]["options"]
        current = dev["state"]["output_source_priority"]
        target = next(o for o in options if o != current)

        resp = client.post(
            "/api/command",
            json={"device": real_inverter, "setting": "output_source_priority", "value": target},
            headers=AUTH,
        )
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["result"]["ok"] is True
        assert resp.get_json()["result"]["value"] == target
        wait_for(lambda: device()["state"]["output_source_priority"] == target, 10, what="polled read-back")

        resp = client.post("/api/command", json={"device": real_inverter, "command": "QPIRI"}, headers=AUTH)
        assert resp.status_code == 200
        assert resp.get_json()["result"]["fields"]["output_source_priority"] == target

        # Refused before publishing: nothing reaches the reader's set topic.
        rec = Recorder(mosquitto, f"solarstack/{real_inverter}/set/#")
        try:
            resp = client.post(
                "/api/command",
                json={"device": real_inverter, "setting": "battery_float_voltage", "value": 99},
                headers=AUTH,
            )
            assert resp.status_code == 400
            running.client.publish(f"solarstack/{real_inverter}/set/marker", "x")
            wait_for(lambda: rec.topics(), 5, what="marker")
            assert rec.topics() == [f"solarstack/{real_inverter}/set/marker"]
        finally:
            rec.stop()
    finally:
        running.shutdown()


def test_refresh_polls_the_real_reader_now(mosquitto: Any, real_inverter: str) -> None:
    """POST /api/refresh -> `<prefix>/<device>/refresh` -> the reader polls its schedule at once
    and answers on `refresh/result`; `{}` reaches it through `<prefix>/refresh`."""
    running = build(web_settings(mosquitto, WEB_COMMAND_TIMEOUT="10"))
    rec = Recorder(mosquitto, "homeassistant/#")
    try:
        client = running.app.test_client()
        devices = lambda: client.get("/api/data").get_json()["devices"]  # noqa: E731
        wait_for(lambda: devices().get(real_inverter, {}).get("queries"), 20, what="the reader's catalogue")
        queries = devices()[real_inverter]["queries"]

        resp = client.post("/api/refresh", json={"device": real_inverter}, headers=AUTH)
        assert resp.status_code == 200, resp.get_json()
        result = resp.get_json()["results"][real_inverter]
        assert result["ok"] is True and result["error"] is None
        assert set(result["polled"]) <= set(queries) and "QPIGS" in result["polled"]

        resp = client.post("/api/refresh", json={}, headers=AUTH)
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["missing"] == [] and resp.get_json()["results"][real_inverter]["ok"] is True

        # HA_DISCOVERY=off: the reader published no discovery, and the web did not need any.
        running.client.publish("homeassistant/marker", "end")
        wait_for(lambda: rec.topics(), 5, what="marker")
        assert rec.topics() == ["homeassistant/marker"]
    finally:
        rec.stop()
        running.shutdown()
