"""Protocols layer (PI16): request and reply frames — bytes in, payload text out.

Pure: no I/O, no field tables (codec.py walks those). Frame layout, from the "Voltronic
Power SUNNY protocol" notes v1.2 (jblance/mpp-solar
docs/protocols/PI16_VoltronicPowerSUNNYProtocol.md) and jblance/mpp-solar
mppsolar/protocols/pi16.py:

    query     Q P I G S  \\r                           no CRC, unlike PI30
    energy    Q E D 2 0 1 5 0 6 2 0  s s s  \\r        sss: decimal sum (QED20150620106)
    reply     (  f1 ␠ f2 ␠ … ␠ fn  [CRChi CRClo]  \\r   the CRC is optional
    ack/nak   ( A C K [CRC] \\r      ( N A K [CRC] \\r

`sss`, on QEY / QEM / QED / QEH only: the low 8 bits of the sum of the command's bytes
(`QED20150620`: 618 mod 256 = 106), three decimal digits. A reply *may* end in PI30's CRC
(CRC-16/XMODEM over `(` and the payload, 0x28/0x0D/0x0A bumped: protocols/pi30/crc.py),
so the first CR ends a frame. Because the CRC is optional, a reply whose last two bytes
check as a CRC has them removed; one whose last two bytes do not check but are printable
text is taken as a reply without CRC; anything else is a CRC error.

Where the sources disagree (and what we do): mpp-solar's QEY / QEM / QEH patterns all
match `QED…`, so it cannot send them; we send what the notes give (`QEY2024sss`). Three of
mpp-solar's sample replies (QED, QMOD `(B`, QPIBI) carry another sample's CRC bytes: with
an optional CRC they would read as payload; they are not used as fixtures.
"""

from __future__ import annotations

from solarstack.core.errors import CrcError, FrameError, NakError
from solarstack.protocols.pi30 import crc

CR = b"\r"
START = b"("
ACK = b"(ACK"
NAK = b"(NAK"


def decimal_sum(data: bytes) -> str:
    """`sss` of the energy queries: the byte sum's low 8 bits as three decimal digits."""
    return f"{sum(data) & 0xFF:03d}"


def request_frame(command: str, *, summed: bool = False) -> bytes:
    """The request bytes for already-validated command text (`summed`: QEY/QEM/QED/QEH)."""
    text = command.encode("ascii")
    return text + (decimal_sum(text).encode("ascii") if summed else b"") + CR


def reply_frame(payload: str, *, with_crc: bool = True) -> bytes:
    """`(` + payload [+ CRC] + CR: what a device sends (the simulator uses this)."""
    body = START + payload.encode("ascii")
    return body + (crc.crc_bytes(body) if with_crc else b"") + CR


def ack_frame(accepted: bool = True, *, with_crc: bool = True) -> bytes:
    """`(ACK` or `(NAK`, with their CRC unless told otherwise, and CR."""
    body = ACK if accepted else NAK
    return body + (crc.crc_bytes(body) if with_crc else b"") + CR


def frame_end(buffer: bytes) -> int | None:
    """Index just past the terminating CR, or None while the frame is incomplete (the CRC
    adjustment keeps a CR out of the CRC, so the first CR ends the frame)."""
    end = buffer.find(CR)
    return None if end < 0 else end + 1


def _printable(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in data)


def unframe(command: str, frame: bytes) -> str | bool:
    """Check start, the optional CRC and terminator; return the payload text, or True for
    `(ACK`. Raises NakError for `(NAK`, FrameError for an echo, a `^`-framed reply or a
    malformed frame, CrcError for trailing bytes that are neither a CRC nor text."""
    # As for PI30: USB-HID pads replies with zeros, some firmware ends with CR LF.
    frame = frame.strip(b"\n\x00")
    if not frame.endswith(CR):
        raise FrameError(f"{command}: reply not terminated by CR ({len(frame)} bytes)")
    if not frame.startswith(START):
        if frame.startswith(b"^"):
            raise FrameError(f"{command}: reply in PI17/PI18 framing ({frame[:8]!r}): not a PI16 device")
        if frame[:1].isalpha():
            raise FrameError(f"{command}: device echoed the request: command not supported")
        raise FrameError(f"{command}: reply does not start with '(' ({frame[:8]!r})")
    body = frame[:-1]
    if len(body) >= 3 and crc.check(body[:-2], body[-2:]):
        body = body[:-2]
    elif not _printable(body[-2:]):
        raise CrcError(f"{command}: reply ends in {body[-2:].hex()}: neither its CRC nor text")
    if body in (ACK, NAK):
        if body == NAK:
            raise NakError(f"{command}: device answered (NAK (refused or not supported)")
        return True
    try:
        text = body[1:].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(f"{command}: reply is not ASCII") from None
    if not _printable(body[1:]):
        raise FrameError(f"{command}: reply holds control characters")
    return text
