"""PI18 property tests: decode lets only ProtocolError escape; format_fields inverts decode."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_errors import decode_or_protocol_error as only_protocol_errors
from row_values import row_values

from solarstack.core.fields import Value
from solarstack.protocols import pi18
from solarstack.protocols.pi30 import crc

QUERY_TEXTS = sorted(c.text for c in pi18.COMMANDS.values() if c.read_only)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_protocol_error(command: str, frame: bytes) -> None:
    only_protocol_errors(pi18.decode, command, frame)


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
    values = row_values(data, pi18.table(command))
    frame = pi18.reply_frame(pi18.format_fields(command, values))
    assert pi18.decode(command, frame) == values


@pytest.mark.parametrize("command", ["MCHGCR", "MUCHGCR"])
def test_current_lists_round_trip(command: str) -> None:
    key = pi18.table(command)[0].key
    values: dict[str, Value] = {key: [2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]}
    assert pi18.decode(command, pi18.reply_frame(pi18.format_fields(command, values))) == values
