"""PI18 request bytes, the length rule, CRC rules and frame handling (ACK, NAK, echo, bad CRC).

Request frames pinned here come from two places, neither of them our encoder:
  * the vendor's own Windows app talking to a real inverter, sniffed on the serial line
    (syssi/esphome-pipsolar#43, 2022-12-23): `^P006VFW`, `^P007PIRI`, `^P006FWS`, `^P007PGS0`;
  * jblance/mpp-solar tests/integration/test_protocol_pi18.py and test_protocol_pi18sv.py
    (an independent implementation of the same PDF rule and CRC).
"""

from __future__ import annotations

import pytest

from solarstack.core.errors import ConfigError, CrcError, FrameError, NakError
from solarstack.protocols import pi18
from solarstack.protocols.pi18 import framing


def bitwise_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM the slow, obvious way: an independent check on the shared crc.py."""
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
    [  # sniffed from the vendor's app (esphome-pipsolar#43)
        ("VFW", b"^P006VFW\xf6\xe6\r"),
        ("PIRI", b"^P007PIRI\xee8\r"),
        ("FWS", b"^P006FWS\xc5C\r"),
        ("PGS0", b"^P007PGS0)\xb6\r"),
    ],
)
def test_requests_as_the_vendor_app_sends_them(command: str, wire: bytes) -> None:
    assert pi18.encode(command) == wire


@pytest.mark.parametrize(
    ("command", "wire"),
    [  # mpp-solar tests/integration/test_protocol_pi18.py
        ("PI", b"^P005PIq\x8b\r"),
        ("ET", b"^P005ETN\x91\r"),
        ("EY2022", b"^P009EY2022\x81\x1c\r"),
        ("ID", b"^P005ID\x19\xcd\r"),
        ("GS", b"^P005GSX\x14\r"),
        ("MOD", b"^P006MOD\xdd\xbe\r"),
        ("FLAG", b"^P007FLAG\x8e\x18\r"),
        ("MCHGCR", b'^P009MCHGCR\xee"\r'),
        ("MUCHGCR", b"^P010MUCHGCR\xb5\x8b\r"),
        ("ED20231217", b"^P013ED20231217\xba\xd2\r"),  # test_protocol_pi18sv.py
        ("POP0", b"^S007POP0\x1d1\r"),
        ("PCP0,1", b"^S009PCP0,1\x8f\x07\r"),
        ("MCHGC0,030", b"^S013MCHGC0,030\xc4\xee\r"),
        ("MUCHGC0,030", b"^S014MUCHGC0,030\xee\xdd\r"),
        ("PBT0", b"^S007PBT0\x93\xa4\r"),
        ("MCHGV552,540", b"^S015MCHGV552,540\x88\xe8\r"),
        ("PSDV450", b"^S010PSDV450,\x8b\r"),
        ("BUCD440,480", b"^S014BUCD440,480\xa5]\r"),
        ("PSP1", b"^S007PSP1;\x12\r"),
        ("PEA", b"^S006PEA\xbb`\r"),  # test_protocol_pi18sv.py
        ("PDA", b"^S006PDA\x88Q\r"),
        ("PEB", b"^S006PEB\x8b\x03\r"),
        ("PDD", b"^S006PDD\xd8\xf4\r"),
    ],
)
def test_requests_agree_with_an_independent_implementation(command: str, wire: bytes) -> None:
    assert pi18.encode(command) == wire


@pytest.mark.parametrize("bump_zero", [False, True])
@pytest.mark.parametrize("name", sorted(pi18.COMMANDS))
def test_exact_request_bytes_for_every_command(name: str, bump_zero: bool) -> None:
    spec = pi18.COMMANDS[name]
    text = spec.text.encode()
    body = (b"^S" if not spec.read_only else b"^P") + b"%03d" % (len(text) + 3) + text
    value = bitwise_xmodem(body)
    expected = body + bytes((adjusted(value >> 8, bump_zero), adjusted(value & 0xFF, bump_zero))) + b"\r"
    assert pi18.encode(spec.text, bump_zero=bump_zero) == expected
    # the length counts what follows it: text, two CRC bytes and the CR
    assert int(expected[2:5]) == len(expected) - 5
    assert pi18.frame_end(expected) == len(expected)  # the CRC never contains a CR


def test_without_crc_keeps_the_length() -> None:
    # mpp-solar pi18sv.py sends some queries to Easun SV units without a CRC, same length
    assert pi18.encode("GS", with_crc=False) == b"^P005GS\r"
    assert pi18.encode("ET", with_crc=False) == b"^P005ET\r"


def test_crc_check_value() -> None:
    from solarstack.protocols.pi30 import crc

    assert crc.crc16(b"123456789") == 0x31C3 == bitwise_xmodem(b"123456789")


def test_ack_and_nak_bytes() -> None:
    # mpp-solar pi18.py test_responses: the device's ^1 / ^0 with their CRC
    assert pi18.ack_frame() == b"^1\x0b\xc2\r"
    assert pi18.ack_frame(False) == b"^0\x1b\xe3\r"
    assert pi18.decode("POP1", b"^1\x0b\xc2\r") == {"ack": True}
    with pytest.raises(NakError, match=r"\^0"):
        pi18.decode("POP1", b"^0\x1b\xe3\r")
    with pytest.raises(NakError):
        pi18.decode("GS", b"^0\x1b\xe3\r")  # a unit that does not know a query refuses it
    with pytest.raises(FrameError, match=r"answered \^1"):
        pi18.decode("GS", b"^1\x0b\xc2\r")
    with pytest.raises(FrameError, match="expected"):
        pi18.decode("POP1", pi18.reply_frame("18"))
    with pytest.raises(CrcError, match="ACK"):
        pi18.decode("POP1", b"^1\x0b\xc3\r")


def test_reply_frame_length_and_crc() -> None:
    frame = pi18.reply_frame("18")
    assert frame == b"^D00518;\x03\r"  # as recorded (mpp-solar pi18.py PI)
    assert pi18.decode("PI", frame) == {"protocol_id": "18"}


def test_both_crc_variants_accepted_on_receive() -> None:
    payload = next(f"{n:08d}" for n in range(10**6) if 0 in framing.crc.crc_bytes(framing.REPLY + b"011" + b"%08d" % n))
    plain, bumped = pi18.reply_frame(payload), pi18.reply_frame(payload, bump_zero=True)
    assert plain != bumped
    assert pi18.decode("ET", plain) == pi18.decode("ET", bumped) == {"pv_energy_total": float(int(payload))}


def test_reply_length_field_is_not_enforced() -> None:
    # EG4 firmware says ^D088 for an 89-byte PIRI (esphome-pipsolar#182): the CR and CRC
    # delimit and guard the frame, the length field is only read as three digits.
    body = b"^D004" + b"18"
    frame = body + framing.crc.crc_bytes(body) + b"\r"
    assert pi18.decode("PI", frame) == {"protocol_id": "18"}
    body = b"^DX05" + b"18"
    with pytest.raises(FrameError, match="three digits"):
        pi18.decode("PI", body + framing.crc.crc_bytes(body) + b"\r")


def test_bad_crc_is_crc_error() -> None:
    good = pi18.reply_frame("05")
    bad = good[:-3] + bytes((good[-3] ^ 0x40, good[-2])) + b"\r"
    with pytest.raises(CrcError):
        pi18.decode("MOD", bad)


def test_crc_over_the_frame_without_its_caret_is_refused() -> None:
    # mpp-solar pi18.py's one GS sample checks only from `D` (and lacks its `^`); every
    # recorded reply starts its CRC at `^`, so a CRC from `D` is a CRC error.
    body = b"^D00505"
    frame = body + framing.crc.crc_bytes(body[1:]) + b"\r"
    with pytest.raises(CrcError):
        pi18.decode("MOD", frame)


def test_echo_and_pi30_replies_are_clear_frame_errors() -> None:
    with pytest.raises(FrameError, match="echoed"):
        pi18.decode("GS", pi18.encode("GS"))
    with pytest.raises(FrameError, match="PI30 framing"):
        pi18.decode("PI", b"(NAKss\r")


@pytest.mark.parametrize(
    "frame",
    [b"", b"\r", b"^\r", b"^D\r", b"^D005\r", b"^D00518;\x03", b"D00518;\x03\r", b"^D005\xff8;\x03\r", b"^1\r"],
)
def test_malformed_frames(frame: bytes) -> None:
    with pytest.raises((FrameError, CrcError)):
        pi18.decode("PI", frame)


def test_non_ascii_payload_with_valid_crc() -> None:
    body = b"^D005\xb018"
    with pytest.raises(FrameError, match="ASCII"):
        pi18.decode("PI", body + framing.crc.crc_bytes(body) + b"\r")


def test_hid_padding_and_cr_lf() -> None:
    assert pi18.decode("MOD", pi18.reply_frame("03") + b"\x00" * 5) == {"mode": "battery"}
    stream = pi18.reply_frame("03") + b"\n" + pi18.reply_frame("05")
    end = pi18.frame_end(stream)
    assert pi18.decode("MOD", stream[:end]) == {"mode": "battery"}
    assert pi18.decode("MOD", stream[end:]) == {"mode": "hybrid"}  # the leading LF is dropped


def test_frame_end() -> None:
    frame = pi18.reply_frame("05")
    assert pi18.frame_end(b"") is None
    assert pi18.frame_end(frame[:-1]) is None
    assert pi18.frame_end(frame + b"^D") == len(frame)


def test_unknown_command_is_config_error_with_hint() -> None:
    with pytest.raises(ConfigError, match="solarstack commands --protocol pi18"):
        pi18.encode("QPIGS")
    with pytest.raises(ConfigError):
        pi18.encode("POP2")  # POP takes 0 or 1 only
    with pytest.raises(ConfigError):
        pi18.encode("EM202413")  # no 13th month
    with pytest.raises(ConfigError):
        pi18.decode("PCP0,3", b"^1\x0b\xc2\r")


def test_an_empty_reply_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="empty"):
        pi18.decode("GS", pi18.reply_frame(""))
