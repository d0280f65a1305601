"""Simulators: a protocol-agnostic byte-stream server over a pty and/or TCP, with faults.

A simulator supplies a `Session` (bytes in → replies out, plus optional unsolicited
output such as VE.Direct's one block a second); this module does everything that is
the same for every device: it owns the pty (raw mode, a stable symlink that survives
a simulated unplug) and the TCP listener, paces replies like the real link (bytes at
a baud rate, or 8-byte zero-padded USB-HID reports at a report interval), and injects
faults — a corrupted checksum, a NAK, silence, garbage, a disconnect — either from
the command line or at run time through a line-based TCP control port:

    fault <crc|nak|silence|garbage|disconnect> [N|always|@P] -> ok (no count: always; @0.05: 5 %)
    clear                                                    -> ok (all faults off)
    pace <baud|off>                                          -> ok (per-byte pacing)
    status                                                   -> ok faults=... pace=...
    anything else                                            -> the simulator's control hook

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
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


def tcp_port(text: str) -> int:
    """argparse type for --tcp / --control: 0 (any free port) to 65535, else a one-line error."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r} is not a TCP port (0-65535; 0 picks a free one)")
    return port


tcp_port.__name__ = "TCP port"  # argparse names the type in its error line


class Fault(StrEnum):
    CRC = "crc"  # checksum no longer matches
    NAK = "nak"  # the device refuses
    SILENCE = "silence"  # no reply at all
    GARBAGE = "garbage"  # line noise instead of a reply
    DISCONNECT = "disconnect"  # the link drops (TCP close; pty hang-up and a new pty behind the same link)


class Session(Protocol):
    """One conversation with one client; buffers partial requests itself."""

    def feed(self, data: bytes) -> list[bytes]:
        """Bytes from the client; returns the replies to send (maybe none yet)."""
        ...

    def tick(self, now: float) -> list[bytes]:
        """Called every `tick` seconds when the server has one: unsolicited output."""
        ...

    def corrupt(self, reply: bytes) -> bytes:
        """The reply with its checksum broken (fault `crc`)."""
        ...

    def nak(self) -> bytes | None:
        """The protocol's refusal (fault `nak`); None if it has none (then: silence)."""
        ...

    def garbage(self, rng: random.Random) -> bytes:
        """Line noise (fault `garbage`)."""
        ...


class BaseSession:
    """Defaults for the optional parts of `Session`."""

    def feed(self, data: bytes) -> list[bytes]:
        return []

    def tick(self, now: float) -> list[bytes]:
        return []

    def corrupt(self, reply: bytes) -> bytes:
        # Flip the lowest bit of a byte in the middle: inside the payload for any framing
        # with a header and a trailing checksum, so the frame still ends where it should.
        if not reply:
            return reply
        i = len(reply) // 2
        return reply[:i] + bytes([reply[i] ^ 0x01]) + reply[i + 1 :]

    def nak(self) -> bytes | None:
        return None

    def garbage(self, rng: random.Random) -> bytes:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(4, 24)))


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


@dataclass(frozen=True)
class Rate:
    """A fault that hits each reply with this probability (`crc@0.02`: a flaky cable)."""

    probability: float


class Faults:
    """Which faults are armed: for the next N replies, always, or at a rate (thread-safe)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._armed: dict[Fault, int | Rate | None] = {}
        self._rng = random.Random(seed)  # seeded: a demo's "random" faults repeat

    def arm(self, fault: Fault, count: int | Rate | None = 1) -> None:
        with self._lock:
            if count == 0 or count == Rate(0.0):
                self._armed.pop(fault, None)
            else:
                self._armed[fault] = count

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self) -> Fault | None:
        """The fault for this reply (first that applies, in declaration order), consuming one use."""
        with self._lock:
            for fault in Fault:
                if fault not in self._armed:
                    continue
                left = self._armed[fault]
                if isinstance(left, Rate):
                    if self._rng.random() < left.probability:
                        return fault
                    continue
                if left is not None:
                    if left <= 1:
                        del self._armed[fault]
                    else:
                        self._armed[fault] = left - 1
                return fault
            return None

    def describe(self) -> str:
        def one(n: int | Rate | None) -> str:
            return "always" if n is None else f"@{n.probability:g}" if isinstance(n, Rate) else str(n)

        with self._lock:
            return ",".join(f"{f}:{one(n)}" for f, n in self._armed.items()) or "none"


def parse_fault(text: str) -> tuple[Fault, int | Rate | None]:
    """`crc` or `crc:always` (every reply), `crc:3` (the next three), `crc@0.02` (2 % of replies)."""
    name, sep, probability = text.partition("@")
    name, _, count = name.partition(":")
    try:
        fault = Fault(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown fault {name!r}; choose from {', '.join(f.value for f in Fault)}") from None
    if sep:
        try:
            p = float(probability)
        except ValueError:
            p = -1.0
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"fault rate {probability!r} must be a probability from 0 to 1")
        return fault, Rate(p)
    if not count or count == "always":
        return fault, None
    if not count.isdigit():
        raise ValueError(f"fault count {count!r} must be a whole number or 'always'")
    return fault, int(count)


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
        self._controls: dict[int, tuple[socket.socket, bytearray]] = {}
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
        master, slave = os.openpty()
        # Raw: no echo, no line editing, no CR/NL mapping — the bytes are the protocol.
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
        entry = _Link("pty", master, self.session_factory(), slave_fd=slave, link=link, path=str(link or node))
        self._links[master] = entry
        self._sel.register(master, selectors.EVENT_READ, ("link", entry))
        return entry

    def add_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for clients (each gets its own session); returns the bound port."""
        return self._listen(host, port, "accept")

    def add_control(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for control connections (see the module docstring); returns the bound port."""
        return self._listen(host, port, "control-accept")

    def _listen(self, host: str, port: int, role: str) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
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
        """Run one control command; returns the one-line answer."""
        words = line.split()
        if not words:
            return "error empty command"
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd == "fault" and args:
                arg = args[1] if len(args) > 1 else ""
                fault, count = parse_fault(args[0] + (arg if arg.startswith("@") else f":{arg}" if arg else ""))
                self.set_fault(fault, count)
                return "ok"
            if cmd == "clear":
                self.clear_faults()
                return "ok"
            if cmd == "pace" and args:
                baud = None if args[0] == "off" else int(args[0])
                self.set_pacing(replace(self.pacing, baud=baud))
                return "ok"
            if cmd == "status":
                return f"ok faults={self.faults.describe()} pace={self.pacing.describe()}"
        except ValueError as exc:
            return f"error {exc}"
        if self.control_hook is not None:
            return self.control_hook(line)
        return f"error unknown command {cmd!r}"

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
        self.serve_forever()

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
                        self._accept_control(obj)
                    elif role == "control":
                        self._on_control(key.fd)
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
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        entry = _Link("tcp", sock.fileno(), self.session_factory(), sock=sock)
        self._links[entry.fd] = entry
        self._sel.register(sock, selectors.EVENT_READ, ("link", entry))

    def _accept_control(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self._controls[sock.fileno()] = (sock, bytearray())
        self._sel.register(sock, selectors.EVENT_READ, ("control", sock))

    def _on_control(self, fd: int) -> None:
        sock, buf = self._controls[fd]
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._sel.unregister(sock)
            del self._controls[fd]
            sock.close()
            return
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            answer = self.control(line.decode("utf-8", "replace").strip())
            # Answers are one short line; the control client reads them as it sends.
            sock.setblocking(True)
            try:
                sock.sendall(answer.encode() + b"\n")
            except OSError:
                pass
            finally:
                sock.setblocking(False)

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
        for sock, _ in self._controls.values():
            sock.close()
        self._controls.clear()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
