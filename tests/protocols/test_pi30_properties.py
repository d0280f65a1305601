"""Property tests: decode never raises anything but ProtocolError; format_fields inverts decode."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pi30_frames import RECORDED
from protocol_errors import decode_or_protocol_error as only_protocol_errors

from solarstack.core.fields import Field, Kind, Value
from solarstack.protocols import pi30

QUERY_TEXTS = sorted(c.text for c in pi30.COMMANDS.values() if c.read_only)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_protocol_error(command: str, frame: bytes) -> None:
    only_protocol_errors(pi30.decode, command, frame)


@FAST
@given(
    command=st.sampled_from(QUERY_TEXTS),
    payload=st.text(alphabet="0123456789.-+_ ()EDabjkuvxyz:PSLBFHnaif\x00\t", max_size=150),
)
def test_valid_crc_with_arbitrary_payload(command: str, payload: str) -> None:
    # A correct CRC around ASCII junk: the decoder itself (not the CRC) must hold.
    decode_or_protocol_error(command, pi30.reply_frame(payload))


@FAST
@given(
    case=st.sampled_from(RECORDED),
    edits=st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
        min_size=1,
        max_size=4,
    ),
    fix_crc=st.booleans(),
)
def test_mutated_recorded_frames(
    case: tuple[str, bytes, dict[str, Value]], edits: list[tuple[int, int, str]], fix_crc: bool
) -> None:
    command, frame, _ = case
    data = bytearray(frame)
    for index, byte, how in edits:
        at = index % max(len(data), 1)
        if how == "set" and data:
            data[at] = byte
        elif how == "insert":
            data.insert(at, byte)
        elif data:
            del data[at]
    mutated = bytes(data)
    if fix_crc and len(mutated) >= 4 and mutated.startswith(b"(") and mutated.endswith(b"\r"):
        body = mutated[:-3]
        mutated = body + pi30.reply_frame(body[1:].decode("latin-1"))[-3:] if body.isascii() else mutated
    decode_or_protocol_error(command, mutated)


# --- round trip: format_fields -> reply_frame -> decode ------------------------------


def value_strategy(field: Field) -> st.SearchStrategy[Value]:
    """Typical values the firmware can carry in the field's text format."""
    fmt = field.fmt or ""
    if field.kind is Kind.BOOL:
        return st.booleans()
    if field.kind is Kind.ENUM:
        return st.sampled_from(sorted(set((field.options or {}).values())))
    if field.kind is Kind.TEXT:
        return st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=14)
    if field.kind is Kind.ARRAY:
        return st.lists(st.integers(0, 999), min_size=1, max_size=12)
    match = re.fullmatch(r"0?(\d*)(?:\.(\d))?[df]", fmt)
    assert match is not None, fmt
    width, decimals = int(match[1] or "1"), int(match[2] or "0")
    digits = max(width - (decimals + 1 if decimals else 0), 1)
    top = 10**digits - 1
    raw = st.integers(0, top * 10**decimals)
    if field.kind is Kind.INT and field.scale == 1.0:
        return st.integers(0, top)
    return raw.map(lambda n: round(n / 10**decimals * field.scale, 6))


ROUND_TRIP = QUERY_TEXTS


@pytest.mark.parametrize("command", ROUND_TRIP)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_format_then_decode_round_trips(command: str, data: st.DataObject) -> None:
    fields = pi30.table(command)
    values: dict[str, Value] = {}
    for field in fields:
        if field.kind is Kind.BOOL and pi30.lookup(command).style is pi30.Style.FLAGS:
            values[field.key] = data.draw(st.booleans(), label=field.key)
        else:
            values[field.key] = data.draw(value_strategy(field), label=field.key)
    decoded = pi30.decode(command, pi30.reply_frame(pi30.format_fields(command, values)))
    assert decoded == values


@pytest.mark.parametrize(
    ("command", "frame", "expected"), RECORDED, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(RECORDED)]
)
def test_recorded_values_format_back_to_decodable_text(command: str, frame: bytes, expected: dict[str, Value]) -> None:
    assert pi30.decode(command, pi30.reply_frame(pi30.format_fields(command, expected))) == expected


@pytest.mark.parametrize(
    ("command", "occurrence"),
    [("QPIRI", 0), ("QPIGS", 1), ("QDI", 0), ("QFLAG", 0), ("QMCHGCR", 0), ("QMOD", 0), ("QPIWS", 0)],
)
def test_format_reproduces_recorded_text_exactly(command: str, occurrence: int) -> None:
    # The tables' text formats match the firmware's byte for byte. (Widths do vary by
    # firmware, e.g. "10" vs "010" amps in QPIRI, so not every recorded frame can.)
    frame = [f for c, f, _ in RECORDED if c == command][occurrence]
    assert pi30.reply_frame(pi30.format_fields(command, pi30.decode(command, frame))) == frame


@FAST
@given(
    cases=st.lists(st.sampled_from(RECORDED), min_size=1, max_size=5),
    cuts=st.lists(st.integers(1, 40), max_size=30),
)
def test_frame_end_splits_a_chunked_stream_back_into_frames(
    cases: list[tuple[str, bytes, dict[str, Value]]], cuts: list[int]
) -> None:
    # Bytes arrive in arbitrary chunks (8-byte HID reports, serial reads); frame_end must
    # cut exactly at each reply's CR, so every frame decodes as recorded.
    stream = b"".join(frame for _, frame, _ in cases)
    chunks, at = [], 0
    for size in [*cuts, len(stream)]:
        chunks.append(stream[at : at + size])
        at += size
    buffer, frames = b"", []
    for chunk in chunks:
        buffer += chunk
        while (end := pi30.frame_end(buffer)) is not None:
            frames.append(buffer[:end])
            buffer = buffer[end:]
    assert buffer == b""
    assert [pi30.decode(c, f) for (c, _, _), f in zip(cases, frames, strict=True)] == [e for _, _, e in cases]
