"""Simulators: a raw pty for a simulated serial device, behind a stable symlink.

`open_pty(link)` opens a pty in raw mode (no echo, no line editing, no CR/NL mapping:
the bytes are the protocol) and, given a link path, points that symlink at it
atomically — a simulated unplug opens a new pty behind the same link, the way udev
keeps /dev/inverter stable. The stream server (stream.py) serves sessions on it.
"""

from __future__ import annotations

import contextlib
import os
import tty
from pathlib import Path
from typing import NamedTuple


class Pty(NamedTuple):
    master: int  # non-blocking; the stream server reads and writes it
    slave: int  # held open so the pty never hangs up between clients
    path: str  # what clients open: the link if given, else the node


def open_pty(link: Path | None = None) -> Pty:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    os.set_inheritable(master, False)
    os.set_inheritable(slave, False)
    node = os.ttyname(slave)
    if link is not None:
        tmp = link.with_name(f".{link.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(node, tmp)
        os.replace(tmp, link)  # atomic: a client never sees the link missing
    return Pty(master, slave, str(link or node))
