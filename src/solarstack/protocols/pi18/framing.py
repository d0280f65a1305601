"""Protocols layer (PI18): request and reply frames — bytes in, payload text out.

Pure: no I/O, no field tables (codec.py walks those). Frame layout, from the
"InfiniSolar V protocol" PDF (2017-09-26; jblance/mpp-solar docs/protocols/) and
checked against frames recorded from devices (tests/protocols/test_pi18_decode.py):

    query     ^ P n n n  G S  CRChi CRClo  \\r      ^P005GS, ^P007PIRI, ^P011EM202401
    setter    ^ S n n n  P O P 1  CRChi CRClo \\r   ^S007POP1, ^S013MCHGC0,060
              │ │ └len┘  └ text ┘ └─ crc ──┘  0x0D
              │ └ P query, S setter, D device reply
              └ 0x5E

    reply     ^ D n n n  f1 , f2 , … , fn  CRChi CRClo  \\r   (`,,`: a reserved, empty field)
    ack/nak   ^ 1  0x0B 0xC2 \\r               ^ 0  0x1B 0xE3 \\r

`nnn` is three decimal digits: the bytes after it, counting the two CRC bytes and the
CR ("Include CRC and ending character, except ^Tnnn"), so `len(text) + 3`. The CRC is
PI30's (protocols/pi30/crc.py: CRC-16/XMODEM, 0x28/0x0D/0x0A bumped by one), computed
over everything from `^` up to the last text byte, sent high byte first.

Where the sources disagree (and what we do):
  * the PDF's own examples give `^P005FWS` and `^P005ACCT` — one short of its rule; the
    vendor's app sends `^P006FWS` (sniffed in syssi/esphome-pipsolar#43) and mpp-solar
    computes `len + 3`: we follow the rule;
  * a recorded EG4 PIRI reply says `^D088` for 89 bytes (its max AC charging current has
    three digits where the PDF has two; syssi/esphome-pipsolar#182), and units answer
    requests whose length is off by one (#182 sent `^P007GS`): the reply's length field is
    read as three digits but not enforced — the CR ends the frame and the CRC guards it;
  * mpp-solar's crcPI also bumps a 0x00 CRC byte: `bump_zero` selects that rule on send,
    and both are accepted on receive (as for PI30);
  * mpp-solar's `pi18sv` sends some queries to Easun SV units without CRC ("crc makes
    this query return only partial infos"), keeping the length as if it were there:
    `with_crc=False` builds that frame; replies must carry a CRC either way;
  * one mpp-solar sample GS reply (its `pi18`) checks only with the CRC taken from `D`,
    not `^`; every other recorded reply includes `^`, so we do too.
"""

from __future__ import annotations

from enum import StrEnum

from solarstack.core.errors import CrcError, FrameError, NakError
from solarstack.protocols.pi30 import crc

CR = b"\r"
REPLY = b"^D"
ACK = b"^1"
NAK = b"^0"
#: The bytes `nnn` counts beyond the text: CRC high, CRC low, CR.
TRAILER = 3
#: Longest text whose length fits the three digits.
MAX_TEXT = 999 - TRAILER


class FrameType(StrEnum):
    """The frame type letter after `^`."""

    QUERY = "P"
    SETTER = "S"
    REPLY = "D"


def length_prefix(kind: FrameType, text: str) -> str:
    """`^P005` for `GS`: type letter and the three-digit length of what follows."""
    if len(text) > MAX_TEXT:
        raise ValueError(f"PI18 text of {len(text)} characters does not fit a three-digit length")
    return f"^{kind}{len(text) + TRAILER:03d}"


def request_frame(command: str, *, setter: bool, bump_zero: bool = False, with_crc: bool = True) -> bytes:
    """The request bytes for already-validated command text."""
    body = (length_prefix(FrameType.SETTER if setter else FrameType.QUERY, command) + command).encode("ascii")
    return body + (crc.crc_bytes(body, bump_zero=bump_zero) if with_crc else b"") + CR


def reply_frame(payload: str, *, bump_zero: bool = False) -> bytes:
    """`^Dnnn` + payload + CRC + CR: what a device sends (the simulator uses this)."""
    body = (length_prefix(FrameType.REPLY, payload) + payload).encode("ascii")
    return body + crc.crc_bytes(body, bump_zero=bump_zero) + CR


def ack_frame(accepted: bool = True) -> bytes:
    """`^1` (accepted) or `^0` (refused) with their CRC and CR."""
    body = ACK if accepted else NAK
    return body + crc.crc_bytes(body) + CR


def frame_end(buffer: bytes) -> int | None:
    """Index just past the terminating CR, or None while the frame is incomplete.

    The CRC adjustment guarantees a CRC byte is never 0x0D, so the first CR ends the frame.
    """
    end = buffer.find(CR)
    return None if end < 0 else end + 1


def unframe(command: str, frame: bytes) -> str | bool:
    """Check start, CRC and terminator; return the payload text, or True for `^1` (ACK).

    Raises NakError for `^0`, FrameError for an echo, a PI30-style reply or a malformed
    frame, CrcError for a CRC that matches neither adjustment rule.
    """
    # As for PI30: USB-HID pads replies with zeros, some firmware ends with CR LF.
    frame = frame.strip(b"\n\x00")
    if not frame.endswith(CR):
        raise FrameError(f"{command}: reply not terminated by CR ({len(frame)} bytes)")
    body, received = frame[:-3], frame[-3:-1]
    if body in (ACK, NAK):
        if not crc.check(body, received):
            raise CrcError(f"{command}: bad CRC on {'ACK' if body == ACK else 'NAK'} reply")
        if body == NAK:
            raise NakError(f"{command}: device answered ^0 (refused or not supported)")
        return True
    if not frame.startswith(REPLY):
        if frame.startswith((b"^P", b"^S")):
            raise FrameError(f"{command}: device echoed the request: command not supported")
        if frame.startswith(b"("):
            raise FrameError(f"{command}: reply in PI30 framing ({frame[:8]!r}): not a PI18 device")
        raise FrameError(f"{command}: reply does not start with '^D' ({frame[:8]!r})")
    if len(frame) < len(REPLY) + 3 + TRAILER:
        raise FrameError(f"{command}: reply too short ({len(frame)} bytes)")
    if not frame[2:5].isdigit():
        raise FrameError(f"{command}: reply length {frame[2:5]!r} is not three digits")
    if not crc.check(body, received):
        raise CrcError(f"{command}: bad CRC {received.hex()} (expected {crc.crc_bytes(body).hex()})")
    try:
        return body[5:].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(f"{command}: reply is not ASCII") from None
