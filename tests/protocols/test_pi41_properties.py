"""PI41 property tests: decode lets only ProtocolError escape, whatever the bytes; a setting
value is either refused with SettingError or becomes text the codec knows; format_fields
inverts decode."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_errors import decode_or_protocol_error as only_protocol_errors
from row_values import row_values

from solarstack.core.errors import SettingError
from solarstack.protocols import pi41
from solarstack.protocols.pi30 import crc

QUERY_TEXTS = sorted(c.text for c in pi41.COMMANDS.values() if c.read_only)
SETTING_KEYS = sorted(s.key for s in (*pi41.SETTINGS, *pi41.ACTIONS))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RECORDED_QPGS0 = (
    b"(1 92911906100045 L 00 122.9 59.98 122.9 59.98 0331 0272 013 56.1 004 100 000.0 004 01577 01400 009"
    b" 01000010 6 0 060 220 40 00 000\xc7\xc2\r"
)


def decode_or_protocol_error(command: str, frame: bytes) -> None:
    only_protocol_errors(pi41.decode, command, frame)


@FAST
@given(
    command=st.sampled_from([*QUERY_TEXTS, "PBEQV58.40"]),
    payload=st.text(alphabet="0123456789.-+ ELBDakxyzVERFW2:_naif\x00\t\u0661\u00b2", max_size=180),
)
def test_valid_crc_with_arbitrary_payload(command: str, payload: str) -> None:
    body = b"(" + payload.encode("utf-8")
    decode_or_protocol_error(command, body + crc.crc_bytes(body) + b"\r")


@FAST
@given(position=st.integers(0, len(RECORDED_QPGS0) - 1), byte=st.integers(0, 255), command=st.sampled_from(QUERY_TEXTS))
def test_mutated_recorded_frame(position: int, byte: int, command: str) -> None:
    frame = bytearray(RECORDED_QPGS0)
    frame[position] = byte
    decode_or_protocol_error(command, bytes(frame))


@FAST
@given(
    key=st.sampled_from(SETTING_KEYS),
    value=st.one_of(
        st.text(max_size=12),
        st.integers(-1000, 3000),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["ON", "off", "PRESS", "sbu", "parallel_180", "56.4", "58.40", "720", "-0", "1e3"]),
    ),
)
def test_a_setting_value_is_refused_or_valid_text(key: str, value: str | float) -> None:
    try:
        text = pi41.setter_command(key, value, pi41.Pi41Context())
    except SettingError as exc:
        assert "\n" not in str(exc)
        return
    assert not pi41.lookup(text).read_only  # a setter the codec knows (its pattern matched)
    assert pi41.encode(text).endswith(b"\r")


@FAST
@given(
    command=st.sampled_from(["QPIGS", "QPIGS2", "QPIRI", "QDI", "QPGS0", "QP2GS1", "QPIWS", "QBEQI"]), data=st.data()
)
def test_format_then_decode_round_trips(command: str, data: st.DataObject) -> None:
    values = row_values(data, pi41.table(command), top=999)
    frame = pi41.reply_frame(pi41.format_fields(command, values))
    assert pi41.decode(command, frame) == values
