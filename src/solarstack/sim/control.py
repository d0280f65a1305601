"""Simulators: the control port — a line protocol that changes faults and pacing at run time.

    fault <crc|nak|silence|garbage|disconnect> [N|always|@P] -> ok (no count: always; @0.05: 5 %)
    clear                                                    -> ok (all faults off)
    pace <baud|off>                                          -> ok (per-byte pacing)
    status                                                   -> ok faults=... pace=...
    anything else                                            -> the simulator's control hook

`answer()` runs one command against what it controls (a StreamServer, stream.py);
`ControlPort` keeps the control connections on that server's selector — no thread of
its own. It must not know any device protocol: unknown commands go to the hook.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from solarstack.sim.faults import Fault, Faults, parse_fault
from solarstack.sim.pacing import Pacing


class Controlled(Protocol):
    faults: Faults
    pacing: Pacing
    control_hook: Callable[[str], str] | None

    def set_pacing(self, pacing: Pacing) -> None: ...


def answer(target: Controlled, line: str) -> str:
    """Run one control command; returns the one-line answer."""
    words = line.split()
    if not words:
        return "error empty command"
    cmd, args = words[0].lower(), words[1:]
    try:
        if cmd == "fault" and args:
            arg = args[1] if len(args) > 1 else ""
            fault, count = parse_fault(args[0] + (arg if arg.startswith("@") else f":{arg}" if arg else ""))
            target.faults.arm(Fault(fault), count)
            return "ok"
        if cmd == "clear":
            target.faults.clear()
            return "ok"
        if cmd == "pace" and args:
            baud = None if args[0] == "off" else int(args[0])
            target.set_pacing(replace(target.pacing, baud=baud))
            return "ok"
        if cmd == "status":
            return f"ok faults={target.faults.describe()} pace={target.pacing.describe()}"
    except ValueError as exc:
        return f"error {exc}"
    if target.control_hook is not None:
        return target.control_hook(line)
    return f"error unknown command {cmd!r}"


class ControlPort:
    """Control connections on a selector: accepted, read line by line, each line answered."""

    ROLE = "control"

    def __init__(self, sel: selectors.BaseSelector, handle: Callable[[str], str]) -> None:
        self._sel = sel
        self._handle = handle
        self._conns: dict[int, tuple[socket.socket, bytearray]] = {}

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self._conns[sock.fileno()] = (sock, bytearray())
        self._sel.register(sock, selectors.EVENT_READ, (self.ROLE, sock))

    def on_readable(self, fd: int) -> None:
        sock, buf = self._conns[fd]
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._sel.unregister(sock)
            del self._conns[fd]
            sock.close()
            return
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            reply = self._handle(line.decode("utf-8", "replace").strip())
            # Answers are one short line; the control client reads them as it sends.
            sock.setblocking(True)
            try:
                with contextlib.suppress(OSError):
                    sock.sendall(reply.encode() + b"\n")
            finally:
                sock.setblocking(False)

    def close(self) -> None:
        for sock, _ in self._conns.values():
            sock.close()
        self._conns.clear()
