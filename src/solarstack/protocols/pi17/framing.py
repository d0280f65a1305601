"""Protocols layer (PI17): request and reply frames — bytes in, payload text out.

Pure: no I/O, no field tables (codec.py walks those). Frame layout, from the
"Infini-Solar 5KW protocol" PDF (2016-03-09) and the "Infini-Solar WP LV6K / 3P 10-15K /
TWIN protocol" PDF (2022-09-21), both in jblance/mpp-solar docs/protocols/:

    query     ^ P n n n  G S  \\r                      ^P003GS, ^P005PIRI, ^P002T
    energy    ^ P n n n  E Y 2 0 2 4  s s s  \\r       ^P010EY2024sss (sss: decimal sum)
    setter    ^ S n n n  M C H G C 0 6 0 0  \\r        ^S010MCHGC0600, ^S004PEA
              │ │ └len┘  └── text ──────┘  0x0D
              │ └ P query, S setter, D device reply
              └ 0x5E

    reply     ^ D n n n  f1 , f2 , … , fn  CRChi CRClo  \\r    (`,,`: a reserved field)
    ack/nak   ^ 1  0x0B 0xC2 \\r                 ^ 0  0x1B 0xE3 \\r

`nnn` is three decimal digits: the bytes after it. Requests carry no CRC, so a request's
`nnn` is `len(text) + 1` (the CR; the PDF's own examples: `^P003GS`, `^P005PIRI`,
`^S015MCHGVmmmm,nnnn`); a reply's counts its two CRC bytes and the CR, `len(payload) + 3`.
The energy-of-a-period queries (EY, EM, ED, EH) end in `sss`: the low 8 bits of the sum of
every byte from `^` to the last date digit, as three decimal digits, counted in `nnn`.

Replies are checked with plain CRC-16/XMODEM (protocols/pi30/crc.py's `crc16`) over
everything from `^` up to the last payload byte, high byte first — *without* PI30's
adjustment of 0x28/0x0D/0x0A. So a CRC byte can be a CR (mpp-solar's T sample ends
`\\x0dR\\r`): `frame_end` takes the first CR whose two bytes before it check, not simply
the first CR.

Where the sources disagree (and what we do):
  * no source sends a CRC after a PI17 request; the one public capture of `^P003PI`
    with a CRC (ned-kelly/docker-voltronic-homeassistant#59) is a PI18 tool adding PI18's
    CRC to a raw command, and the PI18 unit it talked to answered `^0`: we send none;
  * the PDFs write only `<CRC>`; mpp-solar checks PI17 replies with plain XMODEM
    (jblance/mpp-solar mppsolar/helpers.py `CRC_XModem`, unadjusted, unlike its `crcPI`); every
    public PI17 reply checks that way; a reply whose CRC bytes were adjusted the PI30 way
    is accepted too (it costs nothing, and firmware sharing PI18's routine would send it);
  * both PDFs define the sum of EM / ED / EH as that of `"^P010EMyyyymm"` and so on —
    `^P010`, EY's prefix, copied where the request itself says `^P012` / `^P014` /
    `^P016`; mpp-solar sums the bytes actually sent, and so do we (an unsure reading: a
    unit that answers ^0 to EM/ED but not to EY would say the PDFs meant it literally);
  * four of mpp-solar's sample replies (HECS, EM, EH, BMS) give `nnn` one short of the
    bytes that follow: the length field is read as three digits but not enforced — the CRC
    delimits and guards the frame.
"""

from __future__ import annotations

from enum import StrEnum

from solarstack.core.errors import CrcError, FrameError, NakError
from solarstack.protocols.pi30 import crc

CR = b"\r"
REPLY = b"^D"
ACK = b"^1"
NAK = b"^0"
#: The bytes a reply's `nnn` counts beyond the payload: CRC high, CRC low, CR.
TRAILER = 3
#: Longest text whose length fits the three digits.
MAX_TEXT = 999 - TRAILER


class FrameType(StrEnum):
    """The frame type letter after `^`."""

    QUERY = "P"
    SETTER = "S"
    REPLY = "D"


def plain_crc(data: bytes) -> bytes:
    """CRC-16/XMODEM of `data`, high byte first, no byte adjusted (PI17's reply check)."""
    value = crc.crc16(data)
    return bytes((value >> 8, value & 0xFF))


def crc_ok(body: bytes, received: bytes) -> bool:
    """The plain CRC, or (tolerated) the PI30-adjusted one."""
    return received == plain_crc(body) or crc.check(body, received)


def decimal_sum(data: bytes) -> str:
    """`sss` of the energy queries: the byte sum's low 8 bits as three decimal digits."""
    return f"{sum(data) & 0xFF:03d}"


def request_frame(command: str, *, setter: bool, summed: bool = False) -> bytes:
    """The request bytes for already-validated command text (`summed`: EY/EM/ED/EH)."""
    if len(command) > MAX_TEXT:
        raise ValueError(f"PI17 text of {len(command)} characters does not fit a three-digit length")
    kind = FrameType.SETTER if setter else FrameType.QUERY
    extra = 3 if summed else 0
    head = f"^{kind}{len(command) + extra + 1:03d}{command}".encode("ascii")
    return head + (decimal_sum(head).encode("ascii") if summed else b"") + CR


def reply_frame(payload: str) -> bytes:
    """`^Dnnn` + payload + plain CRC + CR: what a device sends (the simulator uses this)."""
    if len(payload) > MAX_TEXT:
        raise ValueError(f"PI17 payload of {len(payload)} characters does not fit a three-digit length")
    body = f"^{FrameType.REPLY}{len(payload) + TRAILER:03d}{payload}".encode("ascii")
    return body + plain_crc(body) + CR


def ack_frame(accepted: bool = True) -> bytes:
    """`^1` (accepted) or `^0` (refused) with their CRC and CR."""
    body = ACK if accepted else NAK
    return body + plain_crc(body) + CR


def frame_end(buffer: bytes) -> int | None:
    """Index just past the frame's terminating CR, or None while it is incomplete.

    A CRC byte may be 0x0D, so a CR ends a `^…` frame only when the two bytes before it
    are the CRC of what precedes them; failing that, the CR the length field points at
    ends it (a damaged frame, which decode() then refuses). Anything not starting with `^`
    (an echo, a PI30 reply, noise) ends at its first CR.
    """
    first = buffer.find(CR)
    if first < 0:
        return None
    if not buffer.startswith(b"^"):
        return first + 1
    at = first
    while at >= 0:
        if at >= 4 and crc_ok(buffer[: at - 2], buffer[at - 2 : at]):
            return at + 1
        at = buffer.find(CR, at + 1)
    digits = buffer[2:5]
    if digits.isdigit() and digits.isascii():
        end = 5 + int(digits)
        if len(buffer) < end:
            return None  # the length field says more is coming
        if buffer[end - 1 : end] == CR:
            return end
    return first + 1


def unframe(command: str, frame: bytes) -> str | bool:
    """Check start, CRC and terminator; return the payload text, or True for `^1` (ACK).

    Raises NakError for `^0`, FrameError for an echo, a PI30-style reply or a malformed
    frame, CrcError for a CRC that does not check.
    """
    # As for PI30/PI18: USB-HID pads replies with zeros, some firmware ends with CR LF.
    frame = frame.rstrip(b"\n\x00").lstrip(b"\n\x00")
    if not frame.endswith(CR):
        raise FrameError(f"{command}: reply not terminated by CR ({len(frame)} bytes)")
    body, received = frame[:-3], frame[-3:-1]
    if body in (ACK, NAK):
        if not crc_ok(body, received):
            raise CrcError(f"{command}: bad CRC on {'ACK' if body == ACK else 'NAK'} reply")
        if body == NAK:
            raise NakError(f"{command}: device answered ^0 (refused or not supported)")
        return True
    if not frame.startswith(REPLY):
        if frame.startswith((b"^P", b"^S")):
            raise FrameError(f"{command}: device echoed the request: command not supported")
        if frame.startswith(b"("):
            raise FrameError(f"{command}: reply in PI30 framing ({frame[:8]!r}): not a PI17 device")
        raise FrameError(f"{command}: reply does not start with '^D' ({frame[:8]!r})")
    if len(frame) < len(REPLY) + 3 + TRAILER:
        raise FrameError(f"{command}: reply too short ({len(frame)} bytes)")
    if not (frame[2:5].isdigit() and frame[2:5].isascii()):
        raise FrameError(f"{command}: reply length {frame[2:5]!r} is not three digits")
    if not crc_ok(body, received):
        raise CrcError(f"{command}: bad CRC {received.hex()} (expected {plain_crc(body).hex()})")
    try:
        return body[5:].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(f"{command}: reply is not ASCII") from None
