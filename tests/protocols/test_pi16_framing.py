"""PI16 request bytes, the decimal sum of the energy queries, the optional reply CRC, ACK/NAK.

Requests carry no CRC: `QPIGS<cr>` as the "Voltronic Power SUNNY protocol" notes write
them (jblance/mpp-solar docs/protocols/PI16_VoltronicPowerSUNNYProtocol.md). The one
worked sum example is mpp-solar pi16.py's own comment, `QED20150620106`.
"""

from __future__ import annotations

import pytest

from solarstack.core.errors import ConfigError, CrcError, FrameError, NakError
from solarstack.protocols import pi16


def bitwise_xmodem(data: bytes) -> bytes:
    """CRC-16/XMODEM the slow way, with PI30's bump of 0x28/0x0D/0x0A (the notes: those are
    'escaped')."""
    value = 0
    for byte in data:
        value ^= byte << 8
        for _ in range(8):
            value = ((value << 1) ^ 0x1021) if value & 0x8000 else value << 1
            value &= 0xFFFF
    return bytes(b + 1 if b in (0x28, 0x0D, 0x0A) else b for b in (value >> 8, value & 0xFF))


@pytest.mark.parametrize("command", ["QPI", "QID", "QVFW", "QVFW2", "QPIRI", "QPIGS", "QMOD", "QPIWS"])
def test_queries_are_their_text_and_a_cr(command: str) -> None:
    assert pi16.encode(command) == command.encode() + b"\r"


def test_the_worked_sum_example() -> None:
    # Q E D 2 0 1 5 0 6 2 0 = 81+69+68+50+48+49+53+48+54+50+48 = 618; 618 mod 256 = 106
    assert pi16.encode("QED20150620") == b"QED20150620106\r"


@pytest.mark.parametrize("command", ["QEY2024", "QEM202401", "QED20240115", "QEH2024011512"])
def test_every_energy_query_ends_in_its_sum(command: str) -> None:
    total = 0
    for byte in command.encode():
        total += byte
    assert pi16.encode(command) == command.encode() + b"%03d" % (total % 256) + b"\r"


def test_replies_with_and_without_crc() -> None:
    # mpp-solar pi16.py: `(PI16` + CRC; the same without the CRC
    assert pi16.reply_frame("PI16") == b"(PI16" + bitwise_xmodem(b"(PI16") + b"\r" == b"(PI16\x9c\xaf\r"
    assert pi16.decode("QPI", b"(PI16\x9c\xaf\r") == {"protocol_id": "PI16"}
    assert pi16.decode("QPI", b"(PI16\r") == {"protocol_id": "PI16"}
    assert pi16.reply_frame("PI16", with_crc=False) == b"(PI16\r"


def test_a_damaged_crc_is_a_crc_error_when_it_cannot_be_text() -> None:
    with pytest.raises(CrcError, match="neither its CRC nor text"):
        pi16.decode("QPI", b"(PI16\x9c\xae\r")


def test_ack_and_nak() -> None:
    assert pi16.ack_frame() == b"(ACK9 \r"  # PI30's ACK bytes: the same CRC rule
    assert pi16.ack_frame(False) == b"(NAKss\r"
    with pytest.raises(NakError, match="NAK"):
        pi16.decode("QPIGS", b"(NAKss\r")
    with pytest.raises(NakError):
        pi16.decode("QPIGS", pi16.ack_frame(False, with_crc=False))
    with pytest.raises(FrameError, match="ACK"):
        pi16.decode("QMOD", pi16.ack_frame())


def test_foreign_and_malformed_frames() -> None:
    with pytest.raises(FrameError, match="echoed"):
        pi16.decode("QPIGS", pi16.encode("QPIGS"))
    with pytest.raises(FrameError, match="PI17/PI18"):
        pi16.decode("QPI", b"^D00517\xca\xec\r")
    for frame in (b"", b"(PI16", b"PI16\r", b"\r", b"(\r", b"(\x01\x02\x03\r"):
        with pytest.raises((FrameError, CrcError)):
            pi16.decode("QPI", frame)


def test_frame_end_and_hid_padding() -> None:
    frame = pi16.reply_frame("B")
    assert pi16.frame_end(frame + b"(G") == len(frame)
    assert pi16.frame_end(frame[:-1]) is None
    assert pi16.decode("QMOD", frame + b"\x00\x00\x00") == {"mode": "battery"}


def test_unknown_commands_are_config_errors_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="solarstack commands --protocol pi16"):
        pi16.encode("GS")
    for text in ("QED2024011", "QEM202413", "QEH2024011524", "POP01"):
        with pytest.raises(ConfigError):
            pi16.encode(text)
