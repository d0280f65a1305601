"""Known-good and known-bad PI30 setter frames, from the documentation, against both sides.

The validator (protocols/pi30/setters.py) and the simulator (sim/inverter.py) are both our
code; a rule they got wrong together would pass a fuzz test that only compares them. This
table is the third party: each row is a setter text with the verdict the documentation
gives it — Voltronic's PI30 "Communication Protocol" PDF as summarised in
/work/shared/PROTOCOLS.md ("PI30 … Setters"); the row's note names the rule. Each row is
sent to the simulator as a real frame over a pty and must be ACKed or NAKed as the table
says; where the row names a setting value, the validator must build exactly that text
(good) or refuse the value (bad).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from solarstack.core.errors import NakError, SettingError
from solarstack.protocols import pi30
from solarstack.protocols.pi30.framing import request_frame
from solarstack.sim.inverter import CHARGE_CURRENTS, UTILITY_CHARGE_CURRENTS, Pi30Inverter, _parser, build
from solarstack.sim.stream import StreamServer
from solarstack.transports.serial import SerialTransport


class Row(NamedTuple):
    text: str
    good: bool
    setting: tuple[str, str] | None  # (key, value) the validator maps to `text`, if any
    note: str


G, B = True, False
ROWS = (
    # POP0x: 00 utility, 01 solar, 02 SBU
    Row("POP00", G, ("output_source_priority", "utility"), "POP 00 utility"),
    Row("POP01", G, ("output_source_priority", "solar"), "POP 01 solar"),
    Row("POP02", G, ("output_source_priority", "sbu"), "POP 02 SBU"),
    Row("POP03", B, None, "POP: only 00-02"),
    Row("POP2", B, None, "POP takes two digits"),
    Row("pop02", B, None, "commands are upper case"),
    # PCP0x: 00 utility, 01 solar, 02 solar+utility, 03 solar only
    Row("PCP00", G, ("charger_source_priority", "utility"), "PCP 00"),
    Row("PCP03", G, ("charger_source_priority", "solar_only"), "PCP 03 solar only"),
    Row("PCP04", B, None, "PCP: only 00-03"),
    # PGR0x: 00 appliance, 01 UPS
    Row("PGR00", G, ("input_voltage_range", "appliance"), "PGR 00"),
    Row("PGR01", G, ("input_voltage_range", "ups"), "PGR 01"),
    Row("PGR02", B, None, "PGR: only 00/01"),
    # PBT0x: 00 AGM, 01 flooded, 02 user
    Row("PBT00", G, ("battery_type", "agm"), "PBT 00 AGM"),
    Row("PBT02", G, ("battery_type", "user"), "PBT 02 user"),
    Row("PBT03", B, None, "PBT: only 00-02"),
    # PBCV dd.d: re-charge voltage, 48 V unit 44-51
    Row("PBCV44.0", G, ("battery_recharge_voltage", "44"), "PBCV low end"),
    Row("PBCV51.0", G, ("battery_recharge_voltage", "51.0"), "PBCV high end"),
    Row("PBCV43.9", B, ("battery_recharge_voltage", "43.9"), "PBCV below 44"),
    Row("PBCV51.1", B, ("battery_recharge_voltage", "51.1"), "PBCV above 51"),
    Row("PBCV46", B, None, "PBCV takes dd.d"),
    Row("PBCV046.0", B, None, "PBCV takes dd.d"),
    # PBDV dd.d: re-discharge voltage, 00.0 = battery full, 48 V unit 48-58
    Row("PBDV00.0", G, ("battery_redischarge_voltage", "0"), "PBDV 00.0 = full"),
    Row("PBDV48.0", G, ("battery_redischarge_voltage", "48"), "PBDV low end"),
    Row("PBDV58.0", G, ("battery_redischarge_voltage", "58"), "PBDV high end"),
    Row("PBDV47.9", B, ("battery_redischarge_voltage", "47.9"), "PBDV below 48, not 0"),
    Row("PBDV58.1", B, ("battery_redischarge_voltage", "58.1"), "PBDV above 58"),
    Row("PBDV10.0", B, ("battery_redischarge_voltage", "10"), "PBDV: 0 or 48-58 only"),
    Row("PBDV-0.0", B, None, "PBDV takes dd.d (no sign)"),
    Row("PBDV00.0", G, ("battery_redischarge_voltage", "-0"), "-0 is 0: never sent as PBDV-0.0"),
    # PBFT / PCVV dd.d: float / bulk, 48 V unit 48.0-58.4
    Row("PBFT48.0", G, ("battery_float_voltage", "48"), "PBFT low end"),
    Row("PBFT58.4", G, ("battery_float_voltage", "58.4"), "PBFT high end"),
    Row("PBFT58.5", B, ("battery_float_voltage", "58.5"), "PBFT above 58.4"),
    Row("PCVV48.0", G, ("battery_bulk_voltage", "48.0"), "PCVV low end"),
    Row("PCVV47.9", B, ("battery_bulk_voltage", "47.9"), "PCVV below 48"),
    Row("PCVV58.4", G, ("battery_bulk_voltage", "58.4"), "PCVV high end"),
    # PSDV dd.d: cut-off, 48 V unit 40.0-48.0
    Row("PSDV40.0", G, ("battery_under_voltage", "40"), "PSDV low end"),
    Row("PSDV48.0", G, ("battery_under_voltage", "48"), "PSDV high end"),
    Row("PSDV39.9", B, ("battery_under_voltage", "39.9"), "PSDV below 40"),
    Row("PSDV48.1", B, ("battery_under_voltage", "48.1"), "PSDV above 48"),
    # MCHGC<unit><AA>, MUCHGC<unit><AA>: values from QMCHGCR / QMUCHGCR only
    Row(f"MCHGC0{CHARGE_CURRENTS[1]:02d}", G, ("max_charging_current", str(CHARGE_CURRENTS[1])), "in QMCHGCR"),
    Row("MCHGC015", B, ("max_charging_current", "15"), "not in QMCHGCR"),
    Row("MNCHGC0120", G, ("max_charging_current", "120"), "MNCHGC<unit><AAA> for 100 A and more"),
    Row(
        f"MUCHGC0{UTILITY_CHARGE_CURRENTS[0]:02d}",
        G,
        ("max_utility_charging_current", str(UTILITY_CHARGE_CURRENTS[0])),
        "in QMUCHGCR",
    ),
    Row("MUCHGC025", B, ("max_utility_charging_current", "25"), "not in QMUCHGCR"),
    # F50 / F60
    Row("F50", G, ("output_frequency", "50"), "F50"),
    Row("F60", G, ("output_frequency", "60"), "F60"),
    Row("F55", B, ("output_frequency", "55"), "only 50/60"),
    # PE<letters> / PD<letters>: flags a b j k u v x y z
    Row("PEa", G, ("buzzer", "ON"), "PE a"),
    Row("PDx", G, ("backlight", "OFF"), "PD x"),
    Row("PEabjkuvxyz", G, None, "several letters at once"),
    Row("PEc", B, None, "c is not a flag letter"),
    Row("PE", B, None, "PE needs a letter"),
    # POPLG0x, POPMnm, PPCPn0x, PPVOKCx, PSPBx, PBATCDxxx
    Row("POPLG02", G, ("operation_logic", "eco"), "POPLG 00-02"),
    Row("POPLG03", B, None, "POPLG 00-02"),
    Row("POPM01", G, ("output_mode", "parallel"), "POPM unit 0, mode 1"),
    Row("POPM08", B, None, "POPM modes 0-7"),
    Row("PPCP001", G, ("parallel_charger_source_priority", "solar"), "PPCP unit 0, 01"),
    Row("PPCP004", B, None, "PPCP 00-03"),
    Row("PPVOKC1", G, ("pv_ok_condition", "all_units"), "PPVOKC 0/1"),
    Row("PPVOKC2", B, None, "PPVOKC 0/1"),
    Row("PSPB0", G, ("pv_power_balance", "charge_current_limit"), "PSPB 0/1"),
    Row("PSPB2", B, None, "PSPB 0/1"),
    Row("PBATCD010", G, ("battery_charge_discharge_control", "010"), "PBATCD three 0/1 digits"),
    Row("PBATCD012", B, ("battery_charge_discharge_control", "012"), "PBATCD three 0/1 digits"),
    # PBATMAXDISCxxx: 000 or 030-150 A
    Row("PBATMAXDISC000", G, ("max_discharging_current", "0"), "000 = off"),
    Row("PBATMAXDISC030", G, ("max_discharging_current", "30"), "low end"),
    Row("PBATMAXDISC150", G, ("max_discharging_current", "150"), "high end"),
    Row("PBATMAXDISC020", B, ("max_discharging_current", "20"), "1-29 A not allowed"),
    Row("PBATMAXDISC151", B, ("max_discharging_current", "151"), "above 150"),
    # BTA±0n: ±9 steps of 0.05 V
    Row("BTA+09", G, ("battery_voltage_calibration", "0.45"), "+9 steps"),
    Row("BTA-09", G, ("battery_voltage_calibration", "-0.45"), "-9 steps"),
    Row("BTA+00", G, ("battery_voltage_calibration", "0"), "no offset"),
    Row("BTA+10", B, ("battery_voltage_calibration", "0.5"), "only ±9 steps"),
    # DATyyyymmddhhmmss: a real date and time
    Row("DAT20240115123000", G, ("clock", "2024-01-15T12:30:00"), "DAT yyyymmddhhmmss"),
    Row("DAT20240231000000", B, ("clock", "2024-02-31T00:00:00"), "no 31 February"),
    Row("DAT20241301000000", B, ("clock", "2024-13-01T00:00:00"), "no month 13"),
    # PF (defaults), PSAVE
    Row("PSAVE", G, ("save_settings", "PRESS"), "PSAVE"),
    Row("PF", G, ("restore_defaults", "PRESS"), "PF restores defaults"),
    Row("PFX", B, None, "PF takes no argument"),
)


@pytest.fixture(scope="module")
def link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pi30Inverter, SerialTransport]]:
    server: StreamServer
    server, inverter = build(_parser().parse_args(["--pty", "--seed", "2"]))
    path = server.add_pty(Path(tmp_path_factory.mktemp("sim")) / "ttyINV")
    server.start()
    t = SerialTransport(path)
    t.open()
    yield inverter, t
    t.close()
    server.stop()


def send(t: SerialTransport, text: str) -> bytes:
    t.reset_input()
    t.write(request_frame(text))
    buf = b""
    while (end := pi30.frame_end(buf)) is None:
        chunk = t.read(2.0)
        assert chunk, f"no answer to {text}"
        buf += chunk
    return buf[:end]


@pytest.mark.parametrize("row", ROWS, ids=[r.text for r in ROWS])
def test_the_simulator_judges_setter_frames_as_documented(link: tuple[Pi30Inverter, SerialTransport], row: Row) -> None:
    inverter, t = link
    before = (dict(inverter.settings), dict(inverter.flags))
    reply = send(t, row.text)
    if row.good:
        assert pi30.decode("PF", reply) == {"ack": True}, row.note
    else:
        with pytest.raises(NakError):
            pi30.decode("PF", reply)
        assert (inverter.settings, inverter.flags) == before, "a NAKed setter changed nothing"


@pytest.mark.parametrize("row", [r for r in ROWS if r.setting], ids=[r.text for r in ROWS if r.setting])
def test_the_validator_judges_setter_values_as_documented(row: Row) -> None:
    assert row.setting is not None
    key, value = row.setting
    ctx = pi30.Pi30Context(
        48.0, max_charging_currents=CHARGE_CURRENTS, max_utility_charging_currents=UTILITY_CHARGE_CURRENTS
    )
    if row.good:
        assert pi30.setter_command(key, value, ctx) == row.text, row.note
    else:
        with pytest.raises(SettingError):
            pi30.setter_command(key, value, ctx)
