"""Protocols layer (PI30): the frame check — CRC-16/XMODEM with the PI30 byte adjustment.

Pure arithmetic on bytes; must not do I/O or know about commands or fields.

The CRC is CRC-16/XMODEM (poly 0x1021, init 0x0000, MSB first, no reflection, no
xorout), sent high byte first. Voltronic firmware then *adjusts* each CRC byte that
would collide with a framing character: 0x28 `(`, 0x0D `\\r` and 0x0A `\\n` are sent as
0x29, 0x0E and 0x0B (Voltronic "Communication protocol" PDF, CRC appendix; the same
rule is in every public PI30 decoder). One popular tool additionally bumps 0x00 to
0x01; which rule a given firmware expects on *requests* is not documented, so the send
rule is selectable (`bump_zero`) and `check` accepts either on receive. Replies
recorded from a real Axpert VM IV carry an unbumped 0x00 CRC byte
(syssi/esphome-pipsolar#87), which is why sending defaults to the plain rule.
"""

from __future__ import annotations

from binascii import crc_hqx

_BUMPED = frozenset((0x28, 0x0D, 0x0A))
_BUMPED_WITH_ZERO = frozenset((0x00, 0x28, 0x0D, 0x0A))


def crc16(data: bytes) -> int:
    """Plain CRC-16/XMODEM (binascii's C implementation of the same polynomial)."""
    return crc_hqx(data, 0)


def _adjust(byte: int, bump_zero: bool) -> int:
    return byte + 1 if byte in (_BUMPED_WITH_ZERO if bump_zero else _BUMPED) else byte


# Per-byte lookup of the send rules: the receive check runs on every frame (hot path).
_SEND = bytes(_adjust(b, False) for b in range(256))
_SEND_ZERO = bytes(_adjust(b, True) for b in range(256))


def crc_bytes(data: bytes, *, bump_zero: bool = False) -> bytes:
    """The two CRC bytes as sent on the wire (high byte first), adjusted."""
    crc = crc16(data)
    rule = _SEND_ZERO if bump_zero else _SEND
    return bytes((rule[crc >> 8], rule[crc & 0xFF]))


def check(data: bytes, received: bytes) -> bool:
    """True if `received` is the adjusted CRC of `data` under either known rule."""
    if len(received) != 2:
        return False
    crc = crc16(data)
    hi, lo = crc >> 8, crc & 0xFF
    got_hi, got_lo = received[0], received[1]
    # Each byte is checked on its own: the rules only differ for a 0x00 byte.
    return (got_hi == _SEND[hi] or got_hi == _SEND_ZERO[hi]) and (got_lo == _SEND[lo] or got_lo == _SEND_ZERO[lo])
