"""Simulators: the stream server — `Session`s served over ptys and TCP, with pacing and faults.

A simulator supplies a `Session` (session.py: bytes in, replies out, plus optional
unsolicited output such as VE.Direct's one block a second); `StreamServer` does what is
the same for every device: it serves sessions on raw ptys (pty.py) and TCP listeners
(tcp.py), sends replies on the schedule `Pacing` gives (pacing.py), applies the faults
armed in `Faults` (faults.py) — a corrupted checksum, a NAK, silence, garbage, a
disconnect — and answers the control port (control.py) that arms them at run time.

One thread runs one selector loop; waits are on descriptors and due times, never
fixed sleeps. This module must not know any protocol: framing, NAK bytes and how to
corrupt a frame belong to the Session.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import selectors
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from solarstack.sim import control
from solarstack.sim.control import ControlPort
from solarstack.sim.faults import Fault, Faults, Rate
from solarstack.sim.pacing import Pacing
from solarstack.sim.pty import open_pty
from solarstack.sim.session import Session
from solarstack.sim.tcp import listen

log = logging.getLogger(__name__)


@dataclass
class _Link:
    """One client side: a pty master or an accepted TCP socket, with its session and outbox."""

    kind: str  # "pty" | "tcp"
    fd: int
    session: Session
    sock: socket.socket | None = None
    slave_fd: int | None = None  # held open so the pty never hangs up between clients
    link: Path | None = None
    outbox: deque[tuple[float, bytes]] = field(default_factory=deque)
    path: str = ""
    want_write: bool = False  # registered for EVENT_WRITE because the peer's buffer was full


class StreamServer:
    """Serve `Session`s over ptys and TCP until `stop()`; see the module docstring.

    Add endpoints (`add_pty`, `add_tcp`, `add_control`) before `start()`/`serve_forever()`;
    faults and pacing may change at any time, from any thread.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        pacing: Pacing | None = None,
        tick: float | None = None,
        control_hook: Callable[[str], str] | None = None,
        seed: int = 0,
    ) -> None:
        self.session_factory = session_factory
        self.pacing = pacing or Pacing()
        self.faults = Faults(seed)
        self.tick = tick
        self.control_hook = control_hook
        self._rng = random.Random(seed)
        self._sel = selectors.DefaultSelector()
        self._links: dict[int, _Link] = {}
        self._listeners: list[socket.socket] = []
        self._control_port = ControlPort(self._sel, self.control)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._stopping = threading.Event()
        self._serving = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._next_tick = time.monotonic() + (tick or 0.0)
        self.pty_paths: list[str] = []
        self.disconnects = 0
        self.last_write = 0.0  # monotonic time of the latest bytes written (latency measurements)

    # -- endpoints ---------------------------------------------------------------------

    def add_pty(self, link: str | Path | None = None) -> str:
        """Open a raw pty; returns the path clients open (`link` if given, kept across unplugs)."""
        pty = self._open_pty(Path(link) if link else None)
        self.pty_paths.append(pty.path)
        return pty.path

    def _open_pty(self, link: Path | None) -> _Link:
        pty = open_pty(link)
        entry = _Link("pty", pty.master, self.session_factory(), slave_fd=pty.slave, link=link, path=pty.path)
        self._links[pty.master] = entry
        self._sel.register(pty.master, selectors.EVENT_READ, ("link", entry))
        return entry

    def add_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for clients (each gets its own session); returns the bound port."""
        return self._listen(host, port, "accept")

    def add_control(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for control connections (see the module docstring); returns the bound port."""
        return self._listen(host, port, "control-accept")

    def _listen(self, host: str, port: int, role: str) -> int:
        sock = listen(host, port)
        self._listeners.append(sock)
        self._sel.register(sock, selectors.EVENT_READ, (role, sock))
        return int(sock.getsockname()[1])

    # -- control -----------------------------------------------------------------------

    def set_fault(self, fault: Fault | str, count: int | Rate | None = 1) -> None:
        self.faults.arm(Fault(fault), count)

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_pacing(self, pacing: Pacing) -> None:
        self.pacing = pacing  # immutable: the loop thread picks the new object up whole

    def control(self, line: str) -> str:
        """Run one control command (control.py); returns the one-line answer."""
        return control.answer(self, line)

    # -- running -----------------------------------------------------------------------

    def start(self) -> StreamServer:
        """Serve in a background thread (tests, `solarstack dev`)."""
        self._serving = True  # before the thread runs: a stop() right now must wake it, not close under it
        self._thread = threading.Thread(target=self.serve_forever, name="sim-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread) and wait for it."""
        self._stopping.set()
        if not self._serving:  # never ran (or already finished): release what was opened
            self._shutdown()
            return
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    def __enter__(self) -> StreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until_signal(self) -> None:
        """Serve in this thread until SIGTERM or SIGINT (a simulator's `main`)."""

        def stop(signum: int, frame: object) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("serving on %s", ", ".join(self.endpoints()))
        self.serve_forever()
        log.info("stopped")

    def endpoints(self) -> list[str]:
        """Where clients reach it: pty paths and `tcp://host:port` of every listener."""
        tcp = [f"tcp://{host}:{port}" for host, port, *_ in (s.getsockname() for s in self._listeners)]
        return [*self.pty_paths, *tcp]

    def serve_forever(self) -> None:
        self._serving = True
        try:
            while not self._stopping.is_set():
                for key, mask in self._sel.select(self._timeout()):
                    role, obj = key.data
                    if role == "link" and key.fd in self._links:
                        link = self._links[key.fd]
                        if mask & selectors.EVENT_READ:
                            self._on_readable(link)
                        if mask & selectors.EVENT_WRITE and key.fd in self._links:
                            self._flush(link)
                    elif role == "accept":
                        self._accept(obj)
                    elif role == "control-accept":
                        self._control_port.accept(obj)
                    elif role == ControlPort.ROLE:
                        self._control_port.on_readable(key.fd)
                    elif role == "wake":
                        with contextlib.suppress(BlockingIOError):
                            self._wake_r.recv(64)
                now = time.monotonic()
                if self.tick and now >= self._next_tick:
                    self._next_tick = now + self.tick
                    for link in list(self._links.values()):
                        self._send(link, link.session.tick(now))
                for link in list(self._links.values()):
                    self._flush(link)
        finally:
            self._shutdown()
            self._serving = False

    def _timeout(self) -> float | None:
        due = [link.outbox[0][0] for link in self._links.values() if link.outbox]
        if self.tick:
            due.append(self._next_tick)
        if not due:
            return None
        return max(0.0, min(due) - time.monotonic())

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, peer = listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        entry = _Link("tcp", sock.fileno(), self.session_factory(), sock=sock, path=f"{peer[0]}:{peer[1]}")
        self._links[entry.fd] = entry
        log.info("client %s connected", entry.path)
        self._sel.register(sock, selectors.EVENT_READ, ("link", entry))

    def _on_readable(self, link: _Link) -> None:
        try:
            data = link.sock.recv(4096) if link.sock is not None else os.read(link.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if link.kind == "tcp":
                self._drop(link)
            return  # a pty master with our own slave held open does not see EOF
        try:
            replies = link.session.feed(data)
        except Exception:  # a simulator bug must not take the device off the wire
            log.exception("session failed on %r; no reply", data[:64])
            return
        self._send(link, replies)

    def _send(self, link: _Link, replies: list[bytes]) -> None:
        for reply in replies:
            fault = self.faults.take()
            if fault is Fault.DISCONNECT:
                self.disconnects += 1
                self._hang_up(link)
                return
            if fault is Fault.SILENCE:
                continue
            if fault is Fault.NAK:
                nak = link.session.nak()
                if nak is None:
                    continue
                reply = nak
            elif fault is Fault.CRC:
                reply = link.session.corrupt(reply)
            elif fault is Fault.GARBAGE:
                reply = link.session.garbage(self._rng)
            start = max(time.monotonic(), link.outbox[-1][0] if link.outbox else 0.0)
            link.outbox.extend(self.pacing.schedule(reply, start))

    def _flush(self, link: _Link) -> None:
        now = time.monotonic()
        blocked = False
        while link.outbox and link.outbox[0][0] <= now:
            due, chunk = link.outbox[0]
            try:
                sent = link.sock.send(chunk) if link.sock is not None else os.write(link.fd, chunk)
            except BlockingIOError:
                blocked = True
                break
            except OSError as exc:
                if link.kind == "tcp" or exc.errno != errno.EIO:
                    self._drop(link)
                    return
                link.outbox.clear()  # pty without a reader: the bytes have nowhere to go
                break
            self.last_write = time.monotonic()
            if sent < len(chunk):
                link.outbox[0] = (due, chunk[sent:])
                blocked = True
                break
            link.outbox.popleft()
        if link.fd in self._links and blocked != link.want_write:
            link.want_write = blocked
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if blocked else 0)
            self._sel.modify(link.sock if link.sock is not None else link.fd, events, ("link", link))

    def _hang_up(self, link: _Link) -> None:
        """Fault `disconnect`: TCP closes the client; a pty goes away and a new one takes its link."""
        if link.kind == "pty":
            # The new pty takes the link before the old one hangs up, so a client that
            # reopens as soon as it sees the hang-up finds the new node.
            fresh = self._open_pty(link.link)
            self.pty_paths = [fresh.path if p == link.path else p for p in self.pty_paths]
        self._drop(link)

    def _drop(self, link: _Link) -> None:
        self._links.pop(link.fd, None)
        if link.kind == "tcp" and not self._stopping.is_set():
            log.info("client %s disconnected", link.path)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(link.sock if link.sock is not None else link.fd)
        if link.sock is not None:
            link.sock.close()
        else:
            os.close(link.fd)
        if link.slave_fd is not None:
            os.close(link.slave_fd)

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for link in list(self._links.values()):
            self._drop(link)
            if link.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    link.link.unlink()
        for sock in self._listeners:
            sock.close()
        self._listeners.clear()
        self._control_port.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
