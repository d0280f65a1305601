"""PI18 property tests: decode lets only ProtocolError escape; format_fields inverts decode."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solarstack.core.errors import ProtocolError
from solarstack.core.fields import Kind, Value
from solarstack.protocols import pi18
from solarstack.protocols.pi30 import crc

QUERY_TEXTS = sorted(c.text for c in pi18.COMMANDS.values() if c.read_only)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_protocol_error(command: str, frame: bytes) -> None:
    try:
        values = pi18.decode(command, frame)
    except ProtocolError:
        return
    assert isinstance(values, dict)


@FAST
@given(command=st.sampled_from([*QUERY_TEXTS, "POP1"]), frame=st.binary(max_size=200))
def test_arbitrary_bytes(command: str, frame: bytes) -> None:
    decode_or_protocol_error(command, frame)


@FAST
@given(
    command=st.sampled_from([*QUERY_TEXTS, "MCHGC0,060"]),
    payload=st.text(alphabet="0123456789.-+_,^ DnaifE\x00\t\r\u0661\u00b2", max_size=150),
    length=st.one_of(st.none(), st.text(alphabet="0123456789 x", min_size=3, max_size=3)),
)
def test_valid_crc_with_arbitrary_payload(command: str, payload: str, length: str | None) -> None:
    # A correct CRC around junk (and any length field): the decoder itself must hold.
    text = f"^D{length if length is not None else f'{len(payload) + 3:03d}'}{payload}"
    body = text.encode("utf-8")
    decode_or_protocol_error(command, body + crc.crc_bytes(body) + b"\r")


@FAST
@given(data=st.data(), command=st.sampled_from(["PIRI", "GS", "PGS3", "FWS", "FLAG", "VFW", "MOD", "T", "ED20240115"]))
def test_format_fields_round_trips(data: st.DataObject, command: str) -> None:
    values: dict[str, Value] = {}
    for f in pi18.table(command):
        if f.kind is Kind.BOOL:
            values[f.key] = data.draw(st.booleans())
        elif f.kind is Kind.ENUM and f.options:
            values[f.key] = data.draw(st.sampled_from(sorted(f.options.values())))
        elif f.kind is Kind.TEXT:
            values[f.key] = data.draw(st.text(alphabet="0123456789", min_size=1, max_size=14))
        else:
            raw = data.draw(st.integers(0, 9999))
            values[f.key] = round(raw * f.scale, 6) if f.kind is Kind.FLOAT else raw
    frame = pi18.reply_frame(pi18.format_fields(command, values))
    assert pi18.decode(command, frame) == values


@pytest.mark.parametrize("command", ["MCHGCR", "MUCHGCR"])
def test_current_lists_round_trip(command: str) -> None:
    key = pi18.table(command)[0].key
    values: dict[str, Value] = {key: [2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]}
    assert pi18.decode(command, pi18.reply_frame(pi18.format_fields(command, values))) == values
