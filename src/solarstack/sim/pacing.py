"""Simulators: pacing — when each byte of a reply leaves, like the real link.

A serial line at a baud rate (10 bits a byte, 8N1), or USB-HID's zero-padded 8-byte
reports at a report interval, after the device's think time. Pure: it schedules, the
stream server (stream.py) sends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pacing:
    """How replies leave: `baud` paces bytes (10 bits each, 8N1), `report_size` cuts
    them into zero-padded USB-HID reports sent every `report_interval` seconds,
    `latency` is the device's think time before the first byte."""

    baud: int | None = None
    report_size: int | None = None
    report_interval: float = 0.008
    latency: float = 0.0

    def schedule(self, reply: bytes, now: float) -> list[tuple[float, bytes]]:
        start = now + self.latency
        if self.report_size:
            size = self.report_size
            chunks = [reply[i : i + size].ljust(size, b"\x00") for i in range(0, len(reply), size)]
            return [(start + i * self.report_interval, c) for i, c in enumerate(chunks)]
        if self.baud:
            byte_time = 10.0 / self.baud
            return [(start + (i + 1) * byte_time, reply[i : i + 1]) for i in range(len(reply))]
        return [(start, reply)]

    def describe(self) -> str:
        parts = [f"baud={self.baud}" if self.baud else "baud=off"]
        if self.report_size:
            parts.append(f"reports={self.report_size}@{self.report_interval * 1000:g}ms")
        return ",".join(parts)
