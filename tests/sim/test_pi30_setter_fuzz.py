"""Every PI30 setter's validator, fuzzed through the device layer against the simulator.

Issue 8, item 12: some values passed validation only to be NAKed by the device, and some
raised out of the write task (no result published; the audit log said "write" though
nothing was written). Here each value goes through `Pi30Device.apply` to the simulator
over a real TCP socket, and it must either be refused (a SetResult with ok=False) with
no setter frame reaching the device, or make one frame the simulator ACKs. Nothing may
escape `apply`. The simulator's own strictness is pinned separately, against the frames
PROTOCOLS.md documents (test_pi30_setter_frames.py), so a bug shared by the validator
and the simulator cannot pass both.

Budget: one simulator for the module and ~300 hypothesis examples in all (CI stays fast).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import SettingError
from solarstack.core.fields import Setting
from solarstack.devices import pi30 as pi30_device
from solarstack.devices.base import SetResult
from solarstack.devices.pi30 import Pi30Device, open_device
from solarstack.protocols import pi30
from solarstack.sim.inverter import (
    CHARGE_CURRENTS,
    UTILITY_CHARGE_CURRENTS,
    VOLTAGE_SETTERS,
    Pi30Inverter,
    _parser,
    build,
)
from solarstack.sim.stream import StreamServer
from support import free_port

ALL: tuple[Setting, ...] = (*pi30.SETTINGS, *pi30.ACTIONS)
BY_KEY = {s.key: s for s in ALL}

#: Junk every setting must survive: empty, blank, words, non-finite, huge, tiny, signed
#: zero, many decimals, non-ASCII digits, Python-only number syntax, control characters.
JUNK = (
    "",
    " ",
    "\t\n",
    "NO",
    "PRESS",
    "press",
    "ON",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "-1e308",
    "1e400",
    "1e-400",
    "9" * 400,
    "0",
    "-0",
    "-0.0",
    "+0",
    "-1",
    "0.0000000001",
    "54.00000000001",
    "54.000000000000000000001",
    "1e1",
    "5_4",  # float() and Decimal() read this as 54
    "٥٤",  # Arabic-Indic 54: float() reads it too
    "\uff15\uff14",  # fullwidth 54
    "0x36",
    "54,0",
    "54.0V",
    " 54.0 ",
    "\x00",
    "🙂",
    "SBU\x00",
    "2024-02-31T00:00:00",
    "0000-01-01T00:00:00",
    "٢٠٢٤-01-15T12:30:00",
    "x" * 5000,
)


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[StreamServer, Pi30Inverter, Pi30Device]]:
    server, inverter = build(_parser().parse_args(["--tcp", "0", "--seed", "5"]))
    port = server.add_tcp()
    server.start()
    dev = open_device(parse_device_url(f"pi30+tcp://127.0.0.1:{port}?name=inv"), timeout=2.0, allow_destructive=True)
    yield server, inverter, dev
    dev.close()
    server.stop()


def applies_or_refuses(rig: tuple[StreamServer, Pi30Inverter, Pi30Device], key: str, value: str) -> SetResult:
    """The property: refused before the wire, or one frame the device ACKs; never an exception."""
    _, inverter, dev = rig
    sent = inverter.setters
    result = dev.apply(key, value)  # must not raise
    assert isinstance(result, SetResult), result
    arrived = inverter.setters - sent  # setter frames that reached the device during apply
    frames = list(inverter.setter_log)[-arrived:] if arrived else []
    if result.error is not None:
        assert "\n" not in result.error and len(result.error) <= 300, result.error
    if not frames:
        assert not result.ok, (key, value, result)
    else:
        assert len(frames) == 1, frames
        command, acked = frames[0]
        assert acked, f"{key}={value!r} passed validation as {command} but the device NAKed it"
        assert result.ok, (key, value, result)
        # what reached the wire is exactly what the validator builds for this value
        assert pi30.setter_command(key, value, dev.context()) == command
    return result


# --- value strategies around each setting's domain, plus junk ---------------------------


def _cases(options: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(options).flatmap(
        lambda o: st.sampled_from([o, o.upper(), o.lower(), f" {o} ", o.title(), o + "x", o[:-1]])
    )


def edges(s: Setting) -> list[str]:
    """Values on and next to every bound of a number setting: the catalogue's (what our
    validator believes) and the simulated device's (what it takes), so a validator bound
    that drifts from the device's shows up at once, not by luck."""
    step = Decimal(str(s.step or 1))
    bounds = {Decimal(str(s.minimum or 0)), Decimal(str(s.maximum or 0))}
    for low, high, field, _ in VOLTAGE_SETTERS.values():
        if field == s.readback and s.unit == "V":
            bounds |= {Decimal(str(low)), Decimal(str(high))}
    currents = {"max_charging_current": CHARGE_CURRENTS, "max_utility_charging_current": UTILITY_CHARGE_CURRENTS}
    bounds |= {Decimal(a) for a in currents.get(s.key, ())}
    if s.key == "max_discharging_current":
        bounds |= {Decimal(0), Decimal(30), Decimal(150)}  # 000 or 030-150 (PROTOCOLS.md)
    values = {b + k * step for b in bounds for k in (-2, -1, 0, 1, 2)}
    return sorted({str(v) for v in values} | {str(v + step / 2) for v in bounds})


def _numbers(s: Setting) -> st.SearchStrategy[str]:
    low, high = s.minimum or 0.0, s.maximum or 0.0
    span = max(high - low, 1.0)
    around = st.floats(low - span / 2, high + span / 2, allow_nan=False)
    decimals = st.integers(0, 4)
    formatted = st.tuples(around, decimals).map(lambda t: f"{t[0]:.{t[1]}f}")
    steps = st.integers(-3, round(span / (s.step or 1.0)) + 3).map(lambda n: f"{low + n * (s.step or 1.0):g}")
    odd = st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers(-(10**30), 10**30).map(str)
    fixed = st.sampled_from(["0", "30", "000", "00.0", "54.0", "-0.05", "0.45"])
    return st.one_of(st.sampled_from(edges(s)), formatted, steps, odd, fixed)


def _clock() -> st.SearchStrategy[str]:
    real = st.tuples(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)), st.sampled_from("T ")
    ).map(lambda t: t[0].replace(microsecond=0).isoformat(sep=t[1]))
    parts = st.tuples(
        st.integers(0, 10000), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61)
    ).map(lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:00")
    return real | parts


def value_strategy(s: Setting) -> st.SearchStrategy[str]:
    junk = st.sampled_from(JUNK) | st.text(max_size=12)
    if s.key == "clock":
        domain = _clock()
    elif s.key == "battery_charge_discharge_control":
        domain = st.text(alphabet="0123", min_size=0, max_size=4)
    elif s.options:
        domain = _cases(s.options)
    else:
        domain = _numbers(s)
    return st.one_of(domain, domain, junk)


KEYS = st.sampled_from([s.key for s in ALL])
CASES = KEYS.flatmap(lambda k: st.tuples(st.just(k), value_strategy(BY_KEY[k])))


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same examples on every CI run; a failure reproduces
)
@given(case=CASES)
@example(case=("battery_redischarge_voltage", "-0"))
@example(case=("battery_float_voltage", "1e308"))
@example(case=("battery_voltage_calibration", "1e308"))
@example(case=("clock", "2024-02-31T00:00:00"))
@example(case=("clock", "0000-01-01T00:00:00"))
@example(case=("restore_defaults", "NO"))
def test_every_value_is_refused_or_acked(
    rig: tuple[StreamServer, Pi30Inverter, Pi30Device], case: tuple[str, str]
) -> None:
    result = applies_or_refuses(rig, *case)
    event("acked" if result.ok else "refused")


@pytest.mark.parametrize("key", [s.key for s in ALL])
def test_junk_never_escapes_apply(rig: tuple[StreamServer, Pi30Inverter, Pi30Device], key: str) -> None:
    for value in JUNK:
        applies_or_refuses(rig, key, value)


@pytest.mark.parametrize("key", [s.key for s in pi30.SETTINGS if not s.options])
def test_values_at_every_bound_are_refused_or_acked(
    rig: tuple[StreamServer, Pi30Inverter, Pi30Device], key: str
) -> None:
    for value in edges(BY_KEY[key]):
        applies_or_refuses(rig, key, value)


@pytest.mark.parametrize("key", [s.key for s in pi30.SETTINGS])
def test_every_advertised_bound_and_option_is_acked(
    rig: tuple[StreamServer, Pi30Inverter, Pi30Device], key: str
) -> None:
    """What the catalogue offers (HA min/max, select options) the device takes."""
    _, _, dev = rig
    s = {x.key: x for x in dev.settings()}[key]
    values = list(s.options) or [f"{s.minimum:g}", f"{s.maximum:g}"]
    for value in values:
        assert applies_or_refuses(rig, key, value).ok, (key, value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("battery_float_voltage", "5_4"),
        ("battery_float_voltage", "٥٤"),
        ("battery_float_voltage", "54.00000000001"),
        ("max_charging_current", "6_0"),
        ("clock", "2024-02-31T00:00:00"),
        ("clock", "0000-01-01T00:00:00"),
        ("battery_voltage_calibration", "1e308"),
        ("battery_float_voltage", "1e308"),
        ("battery_float_voltage", "x" * 5000),
    ],
)
def test_validator_refuses_what_the_device_would_not_take(key: str, value: str) -> None:
    """Pure: the refusal is a SettingError of one short line, not a crash or a NAK later."""
    with pytest.raises(SettingError) as info:
        pi30.setter_command(key, value, pi30.Pi30Context())
    assert "\n" not in str(info.value) and len(str(info.value)) <= 300


# --- the audit log says what actually happened --------------------------------------------


def audit(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split(" ", 1)[0] for r in caplog.records if r.name == "solarstack.audit"]


@pytest.fixture
def fresh(
    rig: tuple[StreamServer, Pi30Inverter, Pi30Device],
) -> Iterator[tuple[StreamServer, Pi30Inverter, Pi30Device]]:
    server, _, dev = rig
    dev.context()  # ratings cached: the next frame on the wire is the setter's
    yield rig
    server.clear_faults()
    dev.timeout = 2.0


def test_audit_refused_never_says_write(fresh: tuple[StreamServer, Pi30Inverter, Pi30Device], caplog) -> None:
    _, _, dev = fresh
    with caplog.at_level(logging.DEBUG, logger="solarstack.audit"):
        assert not dev.apply("battery_float_voltage", "70").ok
        assert not dev.apply("battery_redischarge_voltage", "1e308").ok
        assert not dev.apply("no_such_setting", "1").ok
    assert audit(caplog) == ["refused", "refused", "refused"]


def test_audit_write_then_done(fresh: tuple[StreamServer, Pi30Inverter, Pi30Device], caplog) -> None:
    _, _, dev = fresh
    with caplog.at_level(logging.DEBUG, logger="solarstack.audit"):
        assert dev.apply("output_source_priority", "solar").ok
    assert audit(caplog) == ["write", "done"]


def test_audit_nak(fresh: tuple[StreamServer, Pi30Inverter, Pi30Device], caplog) -> None:
    server, _, dev = fresh
    server.set_fault("nak", 1)
    with caplog.at_level(logging.DEBUG, logger="solarstack.audit"):
        result = dev.apply("output_source_priority", "sbu")
    assert not result.ok and "NAK" in str(result.error)
    assert audit(caplog) == ["write", "nak"]


def test_audit_write_without_answer_fails(fresh: tuple[StreamServer, Pi30Inverter, Pi30Device], caplog) -> None:
    server, _, dev = fresh
    server.set_fault("silence", 1)
    dev.timeout = 0.3
    with caplog.at_level(logging.DEBUG, logger="solarstack.audit"):
        result = dev.apply("output_source_priority", "utility")
    assert not result.ok and "failed" in str(result.error)
    assert audit(caplog) == ["write", "failed"]


def test_unreachable_device_is_a_result_not_an_exception(caplog) -> None:
    """The ratings query fails (nothing listens): a result, and no "write" in the audit."""
    port = free_port()  # nothing listens there: connection refused
    dev = open_device(parse_device_url(f"pi30+tcp://127.0.0.1:{port}?name=gone"), timeout=0.3)
    with caplog.at_level(logging.DEBUG, logger="solarstack.audit"):
        result = dev.apply("output_source_priority", "utility")
    assert not result.ok and result.error and "\n" not in result.error
    assert audit(caplog) == ["failed"]
    dev.close()


def test_an_unexpected_exception_is_one_result_and_one_traceback(
    fresh: tuple[StreamServer, Pi30Inverter, Pi30Device], caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside a validator (anything, not only SettingError) must still give a result."""
    _, inverter, dev = fresh

    def broken(key: str, value: str, ctx: pi30.Pi30Context) -> str:
        return str(math.sqrt(-1))  # ValueError: math domain error

    monkeypatch.setattr(pi30_device.pi30, "setter_command", broken)
    sent = inverter.setters
    with caplog.at_level(logging.DEBUG):
        result = dev.apply("output_source_priority", "utility")
    assert not result.ok and "math domain error" in str(result.error)
    assert inverter.setters == sent
    assert audit(caplog) == ["failed"]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1


def test_a_write_costs_its_setter_and_read_back_only(fresh: tuple[StreamServer, Pi30Inverter, Pi30Device]) -> None:
    """Ratings come from the read-back QPIRI, not a second QPIRI/QMCHGCR/QMUCHGCR round per write
    (issue 8 item 7: at 2400 baud each extra exchange is ~0.5 s of the poll's time)."""
    _, inverter, dev = fresh
    before = inverter.requests
    assert dev.apply("battery_float_voltage", "54.0").ok
    assert dev.apply("battery_bulk_voltage", "56.4").ok
    assert dev.apply("buzzer", "ON").ok  # read back with QFLAG
    assert inverter.requests - before == 6
    assert dev.context().nominal_battery_voltage == 48.0
