"""Simulators: TCP listeners for the stream server's clients and control port.

`listen()` binds a non-blocking listening socket (address reuse on, so a restarted
simulator gets its port back at once); `tcp_port` is the command line's type for
--tcp / --control. Accepting and serving is stream.py's.
"""

from __future__ import annotations

import socket


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


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on host:port (0: any free port); OSError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(8)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
