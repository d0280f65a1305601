"""PI16 property tests: decode lets only ProtocolError escape; format_fields inverts decode."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_errors import decode_or_protocol_error as only_protocol_errors
from row_values import row_values

from solarstack.protocols import pi16
from solarstack.protocols.pi30 import crc

QUERY_TEXTS = sorted(c.text for c in pi16.COMMANDS.values())
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_protocol_error(command: str, frame: bytes) -> None:
    only_protocol_errors(pi16.decode, command, frame)


@FAST
@given(
    command=st.sampled_from(QUERY_TEXTS),
    payload=st.text(alphabet="0123456789.-+ ADGBVERFW:naifE\x00\t\u0661\u00b2", max_size=150),
    with_crc=st.booleans(),
)
def test_arbitrary_payload_with_or_without_crc(command: str, payload: str, with_crc: bool) -> None:
    body = b"(" + payload.encode("utf-8")
    decode_or_protocol_error(command, body + (crc.crc_bytes(body) if with_crc else b"") + b"\r")


@FAST
@given(data=st.data(), command=st.sampled_from(["QPIGS", "QPIRI", "QPIWS", "QMOD", "QVFW", "QED20240115"]))
def test_format_fields_round_trips(data: st.DataObject, command: str) -> None:
    text = st.text(alphabet="0123456789.", min_size=1, max_size=14).filter(lambda t: t.strip("-."))
    values = row_values(data, pi16.table(command), text=text)
    values = {k: v for k, v in values.items() if not (isinstance(v, str) and not v.strip("-."))}
    frame = pi16.reply_frame(pi16.format_fields(command, values), with_crc=data.draw(st.booleans()))
    assert pi16.decode(command, frame) == values
