"""PI30 variants end to end: `solarstack sim inverter --variant V` over real TCP, the device
built from `pi30+tcp://…?variant=V`, and for REVO the real `solarstack run inverter` with a
real Mosquitto — the catalogue follows the variant's tables with no code of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from reader_support import Broker, Recorder, Sim, WaitFor, start_reader, stop, tcp_sim

from solarstack.core import catalog
from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import ConfigError
from solarstack.devices import registry
from solarstack.devices.pi30 import Pi30Device, open_device
from solarstack.protocols import pi30

#: variant -> the queries whose layout it changes (QPGSn asked as QPGS0)
CHANGED = {name: tuple("QPGS0" if c == "QPGSn" else c for c in v.deltas) for name, v in pi30.VARIANTS.items()}


@pytest.fixture
def revo_sim(wait_for: WaitFor) -> Iterator[Sim]:
    """A REVO unit at local noon (PV producing)."""
    yield from tcp_sim(wait_for, "--variant", "revo", "--start", "2026-06-01T12:00:00")


def _device(sim: Sim, variant: str) -> Pi30Device:
    return open_device(parse_device_url(f"pi30+{sim.pty}?name=inv1&variant={variant}"), timeout=2.0)


def test_a_revo_device_reads_the_revo_layout(revo_sim: Sim) -> None:
    device = _device(revo_sim, "revo")
    try:
        qpigs = device.query("QPIGS")
        assert qpigs.values["pv_generating_power"] == qpigs.values["pv_input_power"] > 0
        assert "inverter_pv_energy_today" in qpigs.values
        assert not {"pv_input_current", "battery_discharge_current"} & set(qpigs.values)
        assert {f.key for f in qpigs.fields} >= {"pv_generating_power", "inverter_pv_energy_today"}
        qpiri = device.query("QPIRI").values
        assert qpiri["battery_low_alarm_voltage"] == 44.0 and "battery_recharge_voltage" not in qpiri
        # what REVO does not report is not offered: counters needing discharge current,
        # settings whose read-back field its QPIRI lacks
        counters = {c.key for c in device.counters()}
        assert {"pv_energy", "load_energy", "battery_charge_energy"} <= counters
        assert not {"battery_discharge_energy", "grid_import_energy", "battery_power"} & counters
        settings = {s.key for s in device.settings()}
        assert "output_source_priority" in settings
        assert not {"battery_recharge_voltage", "max_discharging_current", "operation_logic"} & settings
        refused = device.apply("battery_recharge_voltage", "46.0")  # before the wire: nothing to read back
        assert refused.ok is False and "revo unit does not report it back" in str(refused.error)
    finally:
        device.close()


@pytest.mark.parametrize("variant", sorted(pi30.VARIANTS))
def test_each_variant_over_the_simulator(variant: str, wait_for: WaitFor) -> None:
    for sim in tcp_sim(wait_for, "--variant", variant):
        device = _device(sim, variant)
        try:
            for command in ("QPIGS", "QPIRI", *CHANGED[variant]):
                reading = device.query(command)
                table = {f.key for f in pi30.table(command, variant)}
                assert set(reading.values) <= table | {k for k in reading.values if k.startswith("extra_")}
                assert reading.values, command
        finally:
            device.close()


def test_mst_polls_qpigs2_with_the_live_values(wait_for: WaitFor) -> None:
    for sim in tcp_sim(wait_for, "--variant", "mst"):
        device = _device(sim, "mst")
        try:
            assert ("QPIGS2", 5.0) in device.schedule(5.0, 60.0)
            values = device.query("QPIGS2").values
            assert {"pv3_input_power", "pv_total_charging_power"} <= set(values)
        finally:
            device.close()
    plain = open_device(parse_device_url("pi30+tcp://127.0.0.1:1?name=inv1"))
    assert [c for c, _ in plain.schedule(5.0, 60.0)] == ["QPIGS", "QMOD", "QPIWS", "QPIRI", "QFLAG"]


def test_m045_sets_the_clock_with_two_year_digits(wait_for: WaitFor) -> None:
    for sim in tcp_sim(wait_for, "--variant", "m045"):
        device = _device(sim, "m045")
        try:
            assert device.context().short_clock is True
            assert device.setter_command("clock", "2026-12-02T07:00:00", device.context()) == "DAT261202070000"
        finally:
            device.close()


def test_an_auto_url_keeps_the_variant_for_the_pi30_it_finds(revo_sim: Sim, tmp_path: Path) -> None:
    url = parse_device_url(f"auto+{revo_sim.pty}?name=inv1&variant=revo")
    device = registry.open_device(url, timeout=1.0, state_dir=tmp_path)
    try:
        assert isinstance(device, Pi30Device) and device.variant == "revo"
        assert "pv_generating_power" in device.query("QPIGS").values
    finally:
        device.close()


def test_an_unknown_variant_is_one_config_error_listing_the_known() -> None:
    url = parse_device_url("pi30+serial:///dev/ttyUSB0?variant=axpert")
    with pytest.raises(ConfigError) as caught:
        open_device(url)
    message = str(caught.value)
    assert "\n" not in message and "variant 'axpert'" in message and "known: revo, mst, m044, m045" in message
    assert open_device(parse_device_url("pi30+serial:///dev/ttyUSB0?variant=")).variant is None
    with pytest.raises(ConfigError, match="known: revo"):  # what the reader's settings check asks at start-up
        registry.check_url(parse_device_url("pi30+tcp://127.0.0.1:1?variant=REVO2"))


def test_a_revo_readers_catalogue_has_the_revo_fields(
    mosquitto: Broker, revo_sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    device = f"pi30+{revo_sim.pty}?name=inv1&variant=revo"
    reader = start_reader(mosquitto, revo_sim, tmp_path, wait_for, INVERTER_DEVICES=device, HA_DISCOVERY="off")
    try:
        cat = catalog.parse(wait_for(lambda: rec.last("solarstack/inv1/catalog"), 15, what="the catalogue"))
        assert {"pv_generating_power", "inverter_pv_energy_today", "battery_low_alarm_voltage"} <= set(cat.fields)
        assert not {"pv_input_current", "battery_discharge_current", "battery_recharge_voltage"} & set(cat.fields)
        assert cat.fields["inverter_pv_energy_today"].unit == "kWh"
        assert "battery_recharge_voltage" not in cat.settings
        state = wait_for(
            lambda: (s := json.loads(rec.last("solarstack/inv1/state") or b"{}")) and "pv_generating_power" in s and s,
            15,
            what="a REVO state",
        )
        assert "battery_discharge_current" not in state
    finally:
        rec.stop()
        stop(reader.proc)
