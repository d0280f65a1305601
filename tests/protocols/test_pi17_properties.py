"""PI17 property tests: decode lets only ProtocolError escape; frame_end never loops or
overruns; format_fields inverts decode."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_errors import decode_or_protocol_error as only_protocol_errors
from row_values import row_values

from solarstack.protocols import pi17
from solarstack.protocols.pi17 import framing

QUERY_TEXTS = sorted(c.text for c in pi17.COMMANDS.values() if c.read_only)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_protocol_error(command: str, frame: bytes) -> None:
    only_protocol_errors(pi17.decode, command, frame)


@FAST
@given(
    command=st.sampled_from([*QUERY_TEXTS, "MCHGC0600"]),
    payload=st.text(alphabet="0123456789.-+_,^ DVERFW:naifE\x00\t\r\u0661\u00b2", max_size=150),
    length=st.one_of(st.none(), st.text(alphabet="0123456789 x", min_size=3, max_size=3)),
)
def test_valid_crc_with_arbitrary_payload(command: str, payload: str, length: str | None) -> None:
    # A correct CRC around junk (and any length field): the decoder itself must hold.
    text = f"^D{length if length is not None else f'{len(payload) + 3:03d}'}{payload}"
    body = text.encode("utf-8")
    decode_or_protocol_error(command, body + framing.plain_crc(body) + b"\r")


@FAST
@given(stream=st.binary(max_size=300))
def test_frame_end_is_within_the_buffer(stream: bytes) -> None:
    end = pi17.frame_end(stream)
    assert end is None or 0 < end <= len(stream)
    if end is not None:
        assert stream[end - 1 : end] == b"\r"


@FAST
@given(data=st.data(), command=st.sampled_from(["PIRI", "GS", "PS", "WS", "FLAG", "BATS", "HECS", "MD", "VFW", "MOD"]))
def test_format_fields_round_trips(data: st.DataObject, command: str) -> None:
    values = row_values(data, pi17.table(command))
    frame = pi17.reply_frame(pi17.format_fields(command, values))
    assert pi17.frame_end(frame) == len(frame)
    assert pi17.decode(command, frame) == values
