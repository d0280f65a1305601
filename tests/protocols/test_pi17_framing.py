"""PI17 request bytes, the length and decimal-sum rules, the reply CRC and frame handling.

Requests carry no CRC, so their bytes are pinned straight from the protocol PDFs' own
examples ("Infini-Solar 5KW protocol" 2016-03-09, "Infini-Solar WP LV6K / 3P 10-15K / TWIN
protocol" 2022-09-21; jblance/mpp-solar docs/protocols/): `^P003GS<cr>`, `^P005PIRI<cr>`,
`^S015MCHGVmmmm,nnnn<cr>`. The energy queries' sum is recomputed here the slow way.
ACK/NAK bytes are mpp-solar pi17.py's samples (the same bytes PI18 units send).
"""

from __future__ import annotations

import pytest

from solarstack.core.errors import ConfigError, CrcError, FrameError, NakError
from solarstack.protocols import pi17
from solarstack.protocols.pi17 import framing


def bitwise_xmodem(data: bytes) -> bytes:
    """CRC-16/XMODEM the slow, obvious way, high byte first and never adjusted."""
    value = 0
    for byte in data:
        value ^= byte << 8
        for _ in range(8):
            value = ((value << 1) ^ 0x1021) if value & 0x8000 else value << 1
            value &= 0xFFFF
    return bytes((value >> 8, value & 0xFF))


def device_reply(payload: bytes) -> bytes:
    """A reply as the PDFs define it, built without our encoder."""
    body = b"^D%03d" % (len(payload) + 3) + payload
    return body + bitwise_xmodem(body) + b"\r"


@pytest.mark.parametrize(
    ("command", "wire"),
    [  # the PDFs' own request examples (length = text + CR; no CRC)
        ("PI", b"^P003PI\r"),
        ("ID", b"^P003ID\r"),
        ("VFW", b"^P004VFW\r"),
        ("VFW2", b"^P005VFW2\r"),
        ("MD", b"^P003MD\r"),
        ("DM", b"^P003DM\r"),
        ("PIRI", b"^P005PIRI\r"),
        ("GS", b"^P003GS\r"),
        ("PS", b"^P003PS\r"),
        ("MOD", b"^P004MOD\r"),
        ("WS", b"^P003WS\r"),
        ("FLAG", b"^P005FLAG\r"),
        ("T", b"^P002T\r"),
        ("ET", b"^P003ET\r"),
        ("BATS", b"^P005BATS\r"),
        ("HECS", b"^P005HECS\r"),
        ("SEP01", b"^S006SEP01\r"),  # ^S006SEPnn
        ("EDA1", b"^S005EDA1\r"),  # ^S005EDmn
        ("MCHGC0600", b"^S010MCHGC0600\r"),  # ^S010MCHGCnnnn
        ("MUCHGC0300", b"^S011MUCHGC0300\r"),  # ^S011MUCHGCnnnn
        ("MCHGV0564,0540", b"^S015MCHGV0564,0540\r"),  # ^S015MCHGVmmmm,nnnn
        ("BATDV0460,0510,0460,0510", b"^S025BATDV0460,0510,0460,0510\r"),  # ^S025BATDVaaaa,…
        ("BDCM0250", b"^S009BDCM0250\r"),  # ^S009BDCMnnnn
        ("BT1", b"^S004BT1\r"),  # ^S004BTn
        ("PEA", b"^S004PEA\r"),  # ^S004Pmn
        ("PDF", b"^S004PDF\r"),
    ],
)
def test_requests_as_the_pdfs_write_them(command: str, wire: bytes) -> None:
    assert pi17.encode(command) == wire


@pytest.mark.parametrize(
    ("command", "head"),
    [  # ^P010EYyyyynnn, ^P012EMyyyymmnnn, ^P014EDyyyymmddnnn, ^P016EHyyyymmddhhnnn
        ("EY2024", b"^P010EY2024"),
        ("EM202401", b"^P012EM202401"),
        ("ED20240115", b"^P014ED20240115"),
        ("EH2024011512", b"^P016EH2024011512"),
    ],
)
def test_energy_queries_end_in_the_decimal_sum(command: str, head: bytes) -> None:
    total = 0
    for byte in head:
        total += byte
    assert pi17.encode(command) == head + b"%03d" % (total % 256) + b"\r"


def test_energy_sum_by_hand() -> None:
    # ^ P 0 1 0 E Y 2 0 2 4 = 94+80+48+49+48+69+89+50+48+50+52 = 677; 677 mod 256 = 165
    assert pi17.encode("EY2024") == b"^P010EY2024165\r"
    # the length counts the date, the three sum digits and the CR
    frame = pi17.encode("ED20240115")
    assert int(frame[2:5]) == len(frame) - 5


@pytest.mark.parametrize("name", sorted(pi17.COMMANDS))
def test_every_request_counts_what_follows_its_length(name: str) -> None:
    spec = pi17.COMMANDS[name]
    frame = pi17.encode(spec.text)
    assert frame[:2] == (b"^P" if spec.read_only else b"^S")
    assert int(frame[2:5]) == len(frame) - 5
    assert frame.endswith(b"\r") and frame.count(b"\r") == 1
    assert frame[5:].startswith(spec.text.encode())


def test_ack_and_nak() -> None:
    # mpp-solar pi17.py test_responses for every setter
    assert pi17.ack_frame() == b"^1\x0b\xc2\r"
    assert pi17.ack_frame(False) == b"^0\x1b\xe3\r"
    assert pi17.decode("SEP01", b"^1\x0b\xc2\r") == {"ack": True}
    with pytest.raises(NakError, match=r"\^0"):
        pi17.decode("SEP01", b"^0\x1b\xe3\r")
    with pytest.raises(NakError):
        pi17.decode("GS", b"^0\x1b\xe3\r")  # a unit that does not know a query refuses it
    with pytest.raises(FrameError, match=r"answered \^1"):
        pi17.decode("GS", b"^1\x0b\xc2\r")
    with pytest.raises(FrameError, match="expected"):
        pi17.decode("PEA", pi17.reply_frame("17"))
    with pytest.raises(CrcError, match="ACK"):
        pi17.decode("PEA", b"^1\x0b\xc3\r")


def test_reply_frame_is_what_a_device_sends() -> None:
    assert pi17.reply_frame("17") == device_reply(b"17") == b"^D00517\xca\xec\r"  # mpp-solar pi17.py PI
    assert pi17.decode("PI", pi17.reply_frame("17")) == {"protocol_id": "17"}


def test_the_crc_is_plain_xmodem_so_it_may_hold_a_cr() -> None:
    """mpp-solar pi17.py's T sample: CRC 0x0D52 is sent as it is (PI18 would send 0x0E52)."""
    frame = b"^D01720210521234743\rR\r"
    assert bitwise_xmodem(frame[:-3]) == b"\rR"
    assert pi17.reply_frame("20210521234743") == frame
    assert pi17.frame_end(frame) == len(frame)  # not the first CR
    assert pi17.frame_end(frame[:-1]) is None  # the CRC's CR alone ends nothing
    assert pi17.decode("T", frame) == {"device_time": "20210521234743"}


def test_a_pi30_adjusted_crc_is_tolerated() -> None:
    body = b"^D01720210521234743"
    assert pi17.decode("T", body + b"\x0eR\r") == {"device_time": "20210521234743"}


def test_frame_end_in_a_stream() -> None:
    t = b"^D01720210521234743\rR\r"
    stream = t + pi17.reply_frame("05") + pi17.ack_frame()
    first = pi17.frame_end(stream)
    assert first == len(t)
    second = first + (pi17.frame_end(stream[first:]) or 0)
    assert pi17.decode("MOD", stream[first:second]) == {"mode": "hybrid"}
    assert pi17.frame_end(stream[second:]) == 5
    assert pi17.frame_end(b"") is None
    assert pi17.frame_end(b"^D017202105") is None  # the length says more is coming


def test_frame_end_of_damaged_or_foreign_frames() -> None:
    t = bytearray(b"^D01720210521234743\rR\r")
    t[10] ^= 1  # the CRC no longer checks: the length field ends it, decode refuses it
    assert pi17.frame_end(bytes(t)) == len(t)
    with pytest.raises(CrcError):
        pi17.decode("T", bytes(t))
    assert pi17.frame_end(b"(NAKss\r") == 7  # a PI30 reply ends at its first CR
    assert pi17.frame_end(b"^DX17abc\rdef\r") == 9


def test_reply_length_field_is_not_enforced() -> None:
    # mpp-solar pi17.py's HECS sample says ^D019 for 21 bytes; the CRC guards the frame
    frame = b"^D01900,0,0,0,0,0,0,0,05\xfc\r"
    assert int(frame[2:5]) == len(frame) - 5 - 2
    assert pi17.frame_end(frame) == len(frame)
    assert pi17.decode("HECS", frame)["solar_power_priority"] == "battery_load_utility"
    body = b"^DX05" + b"17"
    with pytest.raises(FrameError, match="three digits"):
        pi17.decode("PI", body + bitwise_xmodem(body) + b"\r")


def test_bad_crc_is_crc_error() -> None:
    good = pi17.reply_frame("05")
    with pytest.raises(CrcError, match="expected"):
        pi17.decode("MOD", good[:-3] + bytes((good[-3] ^ 0x40, good[-2])) + b"\r")


def test_echo_and_pi30_replies_are_clear_frame_errors() -> None:
    with pytest.raises(FrameError, match="echoed"):
        pi17.decode("GS", pi17.encode("GS"))
    with pytest.raises(FrameError, match="PI30 framing"):
        pi17.decode("PI", b"(NAKss\r")


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\r",
        b"^\r",
        b"^D\r",
        b"^D005\r",
        b"^D00517\xca\xec",
        b"D00517\xca\xec\r",
        b"^D005\xff7\xca\xec\r",
        b"^1\r",
    ],
)
def test_malformed_frames(frame: bytes) -> None:
    with pytest.raises((FrameError, CrcError)):
        pi17.decode("PI", frame)


def test_non_ascii_payload_with_valid_crc() -> None:
    body = b"^D005\xb017"
    with pytest.raises(FrameError, match="ASCII"):
        pi17.decode("PI", body + bitwise_xmodem(body) + b"\r")


def test_hid_padding_and_cr_lf() -> None:
    assert pi17.decode("MOD", pi17.reply_frame("03") + b"\x00" * 5) == {"mode": "battery"}
    assert pi17.decode("MOD", b"\n" + pi17.reply_frame("06")) == {"mode": "charge"}


def test_unknown_or_malformed_commands_are_config_errors_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="solarstack commands --protocol pi17"):
        pi17.encode("QPIGS")
    for text in ("SEP03", "EM202413", "MCHGC600", "PEZ", "EDH1", "BT2", "EY24"):
        with pytest.raises(ConfigError):
            pi17.encode(text)


def test_an_empty_reply_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="empty"):
        pi17.decode("GS", pi17.reply_frame(""))


def test_crc_helper_agrees_with_the_slow_one() -> None:
    for data in (b"123456789", b"^D00517", b"^1", b"^0"):
        assert framing.plain_crc(data) == bitwise_xmodem(data)
