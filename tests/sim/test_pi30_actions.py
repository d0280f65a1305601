"""PI30 actions (buttons) through the device layer against the simulator over a real pty.

Issue 8, item 1: `set/restore_defaults` with payload `NO` or an empty payload used to
factory-reset the inverter and report ok. An action now fires only on its exact payload
`PRESS`, and a destructive one (restore defaults: erases every setting) is off the
allow-list, the catalogue and HA discovery unless the reader enables it
(INVERTER_ALLOW_DESTRUCTIVE, passed to open_device as `allow_destructive`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.discovery import DeviceInfo, build_device_discovery
from solarstack.core.errors import ConfigError
from solarstack.devices.pi30 import Pi30Device, open_device
from solarstack.protocols import pi30
from solarstack.sim.inverter import Pi30Inverter, _parser, build
from solarstack.sim.stream import StreamServer


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[StreamServer, Pi30Inverter, str]]:
    server, inverter = build(_parser().parse_args(["--pty", "--seed", "3"]))
    url = f"pi30+serial://{server.add_pty(tmp_path / 'ttyINV')}?name=inv"
    server.start()
    yield server, inverter, url
    server.stop()


def device(url: str, *, allow_destructive: bool = False) -> Pi30Device:
    return open_device(parse_device_url(url), timeout=2.0, allow_destructive=allow_destructive)


def changed_priority(dev: Pi30Device, inverter: Pi30Inverter) -> None:
    """Move a setting away from its default, so a factory reset would show."""
    assert dev.apply("output_source_priority", "utility").ok
    assert inverter.settings["output_source_priority"] == "utility"


@pytest.mark.parametrize("payload", ["NO", "", " ", "press", "Press", " PRESS", "PRESS\n", "1", "ON", "PRESSED"])
def test_an_action_fires_only_on_its_exact_payload_press(
    sim: tuple[StreamServer, Pi30Inverter, str], payload: str
) -> None:
    _, inverter, url = sim
    dev = device(url, allow_destructive=True)
    try:
        changed_priority(dev, inverter)
        sent = inverter.setters
        for action in ("restore_defaults", "save_settings"):
            result = dev.apply(action, payload)
            assert not result.ok, (action, payload, result)
            assert "PRESS" in str(result.error) and "\n" not in str(result.error)
        assert inverter.setters == sent  # no PF, no PSAVE frame reached the device
        assert inverter.settings["output_source_priority"] == "utility"  # not factory-reset
        assert dev.query("QPIRI").values["output_source_priority"] == "utility"
    finally:
        dev.close()


def test_press_fires_the_action_when_destructive_actions_are_enabled(
    sim: tuple[StreamServer, Pi30Inverter, str],
) -> None:
    _, inverter, url = sim
    dev = device(url, allow_destructive=True)
    try:
        assert "restore_defaults" in {s.key for s in dev.settings()}
        changed_priority(dev, inverter)
        assert dev.apply("save_settings", "PRESS").ok
        result = dev.apply("restore_defaults", "PRESS")
        assert result.ok, result
        assert list(inverter.setter_log)[-2:] == [("PSAVE", True), ("PF", True)]
        assert dev.query("QPIRI").values["output_source_priority"] == "sbu"  # the default again
    finally:
        dev.close()


def test_destructive_actions_are_off_unless_enabled(
    sim: tuple[StreamServer, Pi30Inverter, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, inverter, url = sim
    dev = device(url)  # the default: INVERTER_ALLOW_DESTRUCTIVE=false
    try:
        keys = {s.key for s in dev.settings()}
        assert "restore_defaults" not in keys
        assert {"save_settings", "clock", "output_source_priority"} <= keys  # the rest stay
        changed_priority(dev, inverter)
        sent = inverter.setters
        with caplog.at_level(logging.INFO, logger="solarstack.audit"):
            result = dev.apply("restore_defaults", "PRESS")
        assert not result.ok
        assert "INVERTER_ALLOW_DESTRUCTIVE" in str(result.error) and "\n" not in str(result.error)
        assert inverter.setters == sent
        assert inverter.settings["output_source_priority"] == "utility"
        audit = [r.getMessage() for r in caplog.records if r.name == "solarstack.audit"]
        assert audit and all(m.startswith("refused") for m in audit), audit
    finally:
        dev.close()


def test_open_device_defaults_to_destructive_actions_off(sim: tuple[StreamServer, Pi30Inverter, str]) -> None:
    _, _, url = sim
    dev = open_device(parse_device_url(url), timeout=2.0)
    assert "restore_defaults" not in {s.key for s in dev.settings()}
    # The protocol marks what erases settings; that is the only thing left out.
    assert {s.key for s in pi30.ACTIONS if s.key in pi30.DESTRUCTIVE} == {"restore_defaults"}


@pytest.mark.parametrize("enabled", [False, True])
def test_discovery_offers_restore_defaults_only_when_enabled(
    sim: tuple[StreamServer, Pi30Inverter, str], enabled: bool
) -> None:
    _, _, url = sim
    dev = device(url, allow_destructive=enabled)
    info = DeviceInfo("inv", "Inverter", "Voltronic Power", "MKS2-5000", "PI30")
    messages = build_device_discovery("solarstack", "homeassistant", info, (), dev.settings(), origin_version="0")
    command_topics = {
        c.get("cmd_t") or c.get("command_topic") for _, p in messages if p for c in json.loads(p)["cmps"].values()
    }
    assert ("solarstack/inv/set/restore_defaults" in command_topics) is enabled
    assert "solarstack/inv/set/save_settings" in command_topics


@pytest.mark.parametrize("command", ["PF", "PSAVE", "POP00", "PEa"])
def test_a_setter_never_goes_out_as_a_query(sim: tuple[StreamServer, Pi30Inverter, str], command: str) -> None:
    """`query` (the poll schedule, `solarstack query`) is no back door around apply's allow-list."""
    _, inverter, url = sim
    dev = device(url, allow_destructive=True)
    try:
        with pytest.raises(ConfigError, match="not a query"):
            dev.query(command)
        assert inverter.setters == 0 and inverter.requests == 0
    finally:
        dev.close()
