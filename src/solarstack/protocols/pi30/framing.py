"""Protocols layer (PI30): request and reply frames — bytes in, payload text out.

Pure: no I/O, no field tables (codec.py walks those). Frame layout, from the
Voltronic "Infini Solar / Axpert communication protocol" PDFs (PI30, §"Communication
format") and confirmed by recorded frames in tests/protocols/pi30_frames.py:

    request   Q P I G S  CRChi CRClo  \\r        ASCII command (+ argument digits)
              └ command ┘└─ crc.py ─┘ 0x0D

    reply     (  f1 ␠ f2 ␠ … ␠ fn  CRChi CRClo  \\r
              0x28 └ ASCII payload ┘ └ crc over "(" + payload ┘

    ack/nak   ( A C K  0x39 0x20 \\r        ( N A K  0x73 0x73 \\r

Some firmware answers an unknown command by echoing the request back unchanged;
that is reported as a FrameError with a clear reason instead of a CRC error. Some
terminate with CR LF instead of CR; the LF is ignored wherever it lands.
"""

from __future__ import annotations

from solarstack.core.errors import CrcError, FrameError, NakError
from solarstack.protocols.pi30 import crc

CR = b"\r"
START = b"("


def request_frame(command: str, *, bump_zero: bool = False) -> bytes:
    """The request bytes for already-validated command text."""
    body = command.encode("ascii")
    return body + crc.crc_bytes(body, bump_zero=bump_zero) + CR


def reply_frame(payload: str, *, bump_zero: bool = False) -> bytes:
    """`(` + payload + CRC + `\\r`: what a device sends (the simulator uses this)."""
    body = START + payload.encode("ascii")
    return body + crc.crc_bytes(body, bump_zero=bump_zero) + CR


def frame_end(buffer: bytes) -> int | None:
    """Index just past the terminating `\\r`, or None while the frame is incomplete.

    The CRC adjustment guarantees a CRC byte is never 0x0D, so the first CR ends the frame.
    """
    end = buffer.find(CR)
    return None if end < 0 else end + 1


def unframe(command: str, frame: bytes) -> str:
    """Check start, CRC and terminator; return the payload text (without `(`).

    Raises NakError for `(NAK`, FrameError for an echo or a malformed frame, CrcError
    for a CRC that matches neither adjustment rule.
    """
    # USB-HID replies arrive as zero-padded 8-byte reports, and some firmware ends a
    # reply with CR LF (EASUN SMH-II: ned-kelly/docker-voltronic-homeassistant#120), so
    # the LF can trail this frame or lead the next one. Neither is frame: a CRC byte is
    # never 0x0A (crc.py bumps it), and a reply starts with "(".
    frame = frame.strip(b"\n\x00")
    if not frame.endswith(CR):
        raise FrameError(f"{command}: reply not terminated by CR ({len(frame)} bytes)")
    if not frame.startswith(START):
        if frame.startswith(command.encode("ascii", "replace")):
            raise FrameError(f"{command}: device echoed the request: command not supported")
        raise FrameError(f"{command}: reply does not start with '(' ({frame[:8]!r})")
    if len(frame) < 4:
        raise FrameError(f"{command}: reply too short ({len(frame)} bytes)")
    body, received = frame[:-3], frame[-3:-1]
    if not crc.check(body, received):
        if body == b"(NAK" or body == b"(ACK":
            raise CrcError(f"{command}: bad CRC on {body[1:].decode()} reply")
        raise CrcError(f"{command}: bad CRC {received.hex()} (expected {crc.crc_bytes(body).hex()})")
    try:
        payload = body[1:].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(f"{command}: reply is not ASCII") from None
    if payload == "NAK":
        raise NakError(f"{command}: device answered NAK (refused or not supported)")
    return payload
