"""PI30 request bytes, CRC rules and frame handling (ACK, NAK, echo, bad CRC, terminator)."""

from __future__ import annotations

import pytest
from pi30_frames import ACK, NAK, QPGS0_ECHO, QPIGS_ZERO_CRC

from solarstack.core.errors import ConfigError, CrcError, FrameError, NakError
from solarstack.protocols import pi30
from solarstack.protocols.pi30 import crc


def bitwise_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM the slow, obvious way: an independent check on crc.py."""
    value = 0
    for byte in data:
        value ^= byte << 8
        for _ in range(8):
            value = ((value << 1) ^ 0x1021) if value & 0x8000 else value << 1
            value &= 0xFFFF
    return value


def adjusted(byte: int, bump_zero: bool) -> int:
    return byte + 1 if byte in (0x28, 0x0D, 0x0A) or (bump_zero and byte == 0) else byte


@pytest.mark.parametrize(
    ("command", "wire"),
    [  # PROTOCOLS.md / the Voltronic PDF examples
        ("QPIGS", "51 50 49 47 53 B7 A9 0D"),
        ("QMOD", "51 4D 4F 44 49 C1 0D"),
        ("QPIRI", "51 50 49 52 49 F8 54 0D"),
        ("QPI", "51 50 49 BE AC 0D"),
    ],
)
def test_documented_request_bytes(command: str, wire: str) -> None:
    assert pi30.encode(command) == bytes.fromhex(wire)


def test_crc_check_value() -> None:
    # The catalogue check value of CRC-16/XMODEM.
    assert crc.crc16(b"123456789") == 0x31C3 == bitwise_xmodem(b"123456789")


@pytest.mark.parametrize("bump_zero", [False, True])
@pytest.mark.parametrize("name", sorted(pi30.COMMANDS))
def test_exact_request_bytes_for_every_command(name: str, bump_zero: bool) -> None:
    text = pi30.COMMANDS[name].text
    body = text.encode()
    value = bitwise_xmodem(body)
    expected = body + bytes((adjusted(value >> 8, bump_zero), adjusted(value & 0xFF, bump_zero))) + b"\r"
    assert pi30.encode(text, bump_zero=bump_zero) == expected
    assert pi30.frame_end(expected) == len(expected)  # the CRC never contains a CR


def test_variants_differ_on_a_zero_crc_byte() -> None:
    # XMODEM of "QED20240115" ends in 0x00: only the bump-zero rule sends 0x01.
    assert pi30.encode("QED20240115") == b"QED20240115\x85\x00\r"
    assert pi30.encode("QED20240115", bump_zero=True) == b"QED20240115\x85\x01\r"


def test_both_crc_variants_accepted_on_receive() -> None:
    # "(00000226" has CRC 0x007E: the high byte is 0x00, so the two rules differ.
    payload = "00000226"
    assert bitwise_xmodem(b"(" + payload.encode()) == 0x007E
    plain, bumped = pi30.reply_frame(payload), pi30.reply_frame(payload, bump_zero=True)
    assert plain == b"(00000226\x00\x7e\r"
    assert bumped == b"(00000226\x01\x7e\r"
    assert pi30.decode("QET", plain) == pi30.decode("QET", bumped) == {"pv_energy_total": 0.226}
    with pytest.raises(CrcError):
        pi30.decode("QET", b"(00000226\x02\x7e\r")


def test_a_real_device_sends_a_zero_crc_byte_unbumped() -> None:
    # Recorded (esphome-pipsolar#87): the firmware sent 0x00 as is, so decoders that insist on
    # the bump-zero rule reject its QPIGS. We accept it, and the bumped form too.
    body = QPIGS_ZERO_CRC[:-3]
    assert bitwise_xmodem(body) == 0x00E7
    assert pi30.decode("QPIGS", QPIGS_ZERO_CRC)["pv_input_power"] == 647
    assert pi30.decode("QPIGS", body + b"\x01\xe7\r")["pv_input_power"] == 647


def test_bad_crc_is_crc_error() -> None:
    good = pi30.reply_frame("PI30")
    bad = good[:-3] + bytes((good[-3] ^ 0x40, good[-2])) + b"\r"
    with pytest.raises(CrcError):
        pi30.decode("QPI", bad)


def test_ack_and_nak() -> None:
    assert pi30.decode("POP02", ACK) == {"ack": True}
    with pytest.raises(NakError):
        pi30.decode("POP02", NAK)
    with pytest.raises(NakError):
        pi30.decode("QPIGS", NAK)
    with pytest.raises(FrameError, match="ACK"):
        pi30.decode("QPIGS", ACK)
    with pytest.raises(FrameError, match="expected ACK"):
        pi30.decode("POP02", pi30.reply_frame("PI30"))


def test_echoed_request_is_a_clear_frame_error() -> None:
    with pytest.raises(FrameError, match="device echoed the request: command not supported"):
        pi30.decode("QPGS0", QPGS0_ECHO)
    with pytest.raises(FrameError, match="echoed"):
        pi30.decode("QPIGS2", pi30.encode("QPIGS2"))


@pytest.mark.parametrize(
    "frame",
    [b"", b"\r", b"(\r", b"(PI30\x9a\x0b", b"PI30\x9a\x0b\r", b"(P\xffI\r", b"(\x9a\x0b\r\x00"],
)
def test_malformed_frames(frame: bytes) -> None:
    with pytest.raises((FrameError, CrcError)):
        pi30.decode("QPI", frame)


def test_non_ascii_payload_with_valid_crc() -> None:
    body = b"(PI\xb030"
    frame = body + crc.crc_bytes(body) + b"\r"
    with pytest.raises(FrameError, match="ASCII"):
        pi30.decode("QPI", frame)


def test_hid_zero_padding_after_cr_is_ignored() -> None:
    frame = pi30.reply_frame("PI30") + b"\x00" * 7
    assert pi30.decode("QPI", frame) == {"protocol_id": "PI30"}


def test_cr_lf_terminated_replies() -> None:
    # EASUN SMH-II firmware ends replies with CR LF (docker-voltronic-homeassistant#120):
    # the LF either trails this frame or, split by frame_end, leads the next one.
    first, second = pi30.reply_frame("B"), pi30.reply_frame("L")
    stream = first + b"\n" + second + b"\n"
    end = pi30.frame_end(stream)
    assert end == len(first)
    assert pi30.decode("QMOD", stream[:end]) == {"mode": "battery"}
    rest = stream[end:]
    assert pi30.decode("QMOD", rest[: pi30.frame_end(rest)]) == {"mode": "line"}  # leading LF
    assert pi30.decode("QMOD", first + b"\n") == {"mode": "battery"}  # trailing LF


def test_frame_end() -> None:
    frame = pi30.reply_frame("B")
    assert pi30.frame_end(b"") is None
    assert pi30.frame_end(frame[:-1]) is None
    assert pi30.frame_end(frame) == len(frame)
    assert pi30.frame_end(frame + b"(next") == len(frame)


def test_unknown_command_is_config_error_with_hint() -> None:
    with pytest.raises(ConfigError, match="solarstack commands --protocol pi30"):
        pi30.encode("QXYZ")
    with pytest.raises(ConfigError):
        pi30.decode("POP09", ACK)  # POP takes 00..02 only
