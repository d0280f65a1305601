"""Core layer: the typed errors every layer raises.

`ProtocolError` and its subclasses are retryable (a bad frame, a NAK, a silent device);
`ConfigError` is not: it carries one line that tells the user what to fix and the
process stops. `TransportError` means the link itself failed (unplugged, refused) and
the device should be reopened. This module must not import anything from solarstack.
"""

from __future__ import annotations


class SolarstackError(Exception):
    """Base of every error solarstack raises on purpose."""


class ConfigError(SolarstackError):
    """Bad configuration or bad user input: not retryable; str() is the one-line fix."""


class ProtocolError(SolarstackError):
    """A frame could not be decoded (retryable). `kind` labels the error counter."""

    kind = "protocol"


class CrcError(ProtocolError):
    kind = "crc"


class NakError(ProtocolError):
    kind = "nak"


class FrameError(ProtocolError):
    """Short, truncated, wrong header, garbage."""

    kind = "frame"


class TransportError(SolarstackError):
    """The link failed: device unplugged, connection refused or reset."""

    kind = "disconnect"


class DeviceTimeout(TransportError):
    """The device did not answer in time."""

    kind = "timeout"


class SettingError(SolarstackError):
    """A setting value was refused before reaching the device (unknown, out of range)."""
