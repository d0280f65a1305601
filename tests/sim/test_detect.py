"""Protocol auto-detection (devices/detect.py) and `solarstack detect`, against the real
inverter simulator over TCP (`solarstack sim inverter --protocol …`, in process) and against
peers scripted byte for byte: a listener that never answers, one that answers an id nobody
knows, one that answers every probe with another family's id.

What they prove: each simulator mode is named for what it is; a silent, garbage-answering or
NAK-only device gets exit 1 and one reason, never a guess; only the four probe frames ever
reach the wire (pinned to bytes written out here, from PROTOCOLS.md and the codecs' PDFs, so
a wrong probe in detect.py cannot pass by agreeing with itself); the verdict is cached per
link under STATE_DIR, used without I/O, and re-checked when the family stops answering.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from solarstack.cli import main
from solarstack.core.errors import ConfigError
from solarstack.devices import detect
from solarstack.protocols import pi30
from solarstack.sim.inverter import _parser, build_any
from solarstack.sim.stream import StreamServer
from solarstack.transports.tcp import TcpTransport
from support import wait_for

#: The probes as bytes, written out: PI30 QPI + CRC (PROTOCOLS.md: `… BE AC 0D`), PI18
#: `^P005PI` + the PI30 CRC, PI17 `^P003PI` without CRC (its PDF), PI16 plain `QPI`.
PROBES = (
    b"QPI\xbe\xac\r",
    b"^P005PI\x71\x8b\r",
    b"^P003PI\r",
    b"QPI\r",
)
FAST = 0.3  # seconds a probe waits here: the simulator answers in milliseconds


def test_the_probes_are_the_documented_frames() -> None:
    assert tuple(p.request for p in detect.probes()) == PROBES


# -- the simulator, one mode at a time -----------------------------------------------------


class Sim:
    """The inverter simulator in one family mode on a free TCP port, with its control port."""

    def __init__(self, protocol: str) -> None:
        server, unit = build_any(_parser().parse_args(["--tcp", "0", "--protocol", protocol, "--seed", "7"]))
        self.server: StreamServer = server
        self.unit = unit
        self.link = f"tcp://127.0.0.1:{server.add_tcp()}"
        self.control_port = server.add_control()
        server.start()

    def control(self, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            return s.makefile().readline().strip()


@pytest.fixture
def sims() -> Iterator[dict[str, Sim]]:
    made: dict[str, Sim] = {}
    yield made
    for s in made.values():
        s.server.stop()


def nothing_set(sim: Sim) -> bool:
    """No setter reached the device. The PI30 simulator logs every well-framed non-query in
    its setter log: the PI18 probe carries a PI30-valid CRC, so it is there, NAKed — and must
    be the only thing there. (The PI16 simulator takes no setter at all: nothing to log.)"""
    log = list(getattr(sim.unit, "setter_log", ()))
    return all(text == "^P005PI" and not ok for text, ok in log)


def start(sims: dict[str, Sim], protocol: str) -> Sim:
    sims[protocol] = Sim(protocol)
    return sims[protocol]


# pi41 answers the first (PI30) probe with its own id: one probe
@pytest.mark.parametrize(("protocol", "probes_sent"), [("pi30", 1), ("pi18", 2), ("pi17", 3), ("pi16", 4), ("pi41", 1)])
def test_each_simulator_mode_is_named_with_read_only_probes(
    sims: dict[str, Sim], protocol: str, probes_sent: int
) -> None:
    sim = start(sims, protocol)
    verdict = detect.detect(detect.transport_url(sim.link), timeout=FAST)
    assert verdict.family == protocol, verdict.text()
    # Probing stops at the first id; the families before it refused or stayed silent.
    assert [e.sent for e in verdict.evidence] == list(PROBES[:probes_sent])
    assert all(e.found is None for e in verdict.evidence[:-1])
    assert sim.unit.requests == probes_sent
    assert nothing_set(sim)


def test_a_pi18_unit_refusing_the_pi30_probe_is_evidence_not_a_verdict(sims: dict[str, Sim]) -> None:
    verdict = detect.detect(detect.transport_url(start(sims, "pi18").link), timeout=FAST)
    first = verdict.evidence[0]
    assert first.received == b"^0\x1b\xe3\r" and first.found is None
    assert first.read == "refused: NAK (in pi18/pi17 framing)"


def test_cli_prints_the_verdict_and_the_evidence(sims: dict[str, Sim], capsys: pytest.CaptureFixture[str]) -> None:
    sim = start(sims, "pi30")
    assert main(["detect", sim.link, "--timeout", str(FAST)]) == 0
    out = capsys.readouterr().out
    assert "probe pi30 QPI" in out and "51 50 49 be ac 0d" in out and "(PI30" in out
    assert out.rstrip().endswith("verdict: pi30 (answered the pi30 probe QPI with protocol id 'PI30')")


def test_cli_json_in_a_real_process(sims: dict[str, Sim]) -> None:
    sim = start(sims, "pi18")
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "detect", sim.link, "--json", "--timeout", str(FAST)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["family"] == "pi18"
    assert [e["probe"] for e in out["evidence"]] == ["pi30", "pi18"]
    assert out["evidence"][1] == {
        "probe": "pi18",
        "command": "PI",
        "sent": "5e 50 30 30 35 50 49 71 8b 0d",
        "received": "5e 44 30 30 35 31 38 3b 03 0d",  # ^D00518 + CRC + CR
        "read": "read as a pi18 PI reply: protocol id '18'",
        "protocol_id": "18",
        "family": "pi18",
    }


@pytest.mark.parametrize("fault", ["garbage", "nak", "crc"])
def test_a_device_answering_nothing_readable_is_unknown(
    sims: dict[str, Sim], fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = start(sims, "pi30")
    assert sim.control(f"fault {fault} always") == "ok"
    assert main(["detect", sim.link, "--timeout", str(FAST)]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "unknown device: 4 of 4 probes answered" in captured.err
    assert "verdict: none" in captured.out
    assert sim.unit.requests == 4 and nothing_set(sim)


# -- scripted peers --------------------------------------------------------------------------


class Peer:
    """A TCP listener recording every byte it receives (over all connections); it answers
    each `\\r`-ended request with `reply`, or never when `reply` is None."""

    def __init__(self, reply: bytes | None = None) -> None:
        self.reply = reply
        self.received = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.link = f"tcp://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed: the test is over
            with self._lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self.received += data
                if self.reply is not None:
                    for _ in range(data.count(b"\r")):
                        conn.sendall(self.reply)

    def bytes_received(self) -> bytes:
        with self._lock:
            return bytes(self.received)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        self._listener.close()
        for t in self._threads:
            t.join(5)


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for p in made:
        p.close()


def peer(peers: list[Peer], reply: bytes | None = None) -> Peer:
    peers.append(Peer(reply))
    return peers[-1]


def test_a_silent_device_gets_exit_1_and_only_the_probe_frames(
    peers: list[Peer], capsys: pytest.CaptureFixture[str]
) -> None:
    silent = peer(peers)
    assert main(["detect", silent.link, "--timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the device is silent: no byte came back to any of 4 read-only probes within 0.2 s each" in err
    # Every byte that reached the device, in order: the four probes and nothing else.
    wait_for(lambda: silent.bytes_received() == b"".join(PROBES), 5, what="the probes to arrive")
    assert silent.bytes_received() == b"".join(PROBES)


def test_an_id_nobody_knows_is_named_not_guessed(peers: list[Peer]) -> None:
    # `(PI34`: an MPP Solar MPPT charge controller's answer to QPI (syssi/esphome-pipsolar#63)
    charger = peer(peers, pi30.reply_frame("PI34"))
    verdict = detect.detect(detect.transport_url(charger.link), timeout=FAST)
    assert verdict.family is None and len(verdict.evidence) == 1  # it answered: no more probes
    assert "names protocol 'PI34', which detection does not settle on" in verdict.reason


def test_the_id_settles_it_even_on_another_familys_probe(peers: list[Peer]) -> None:
    pi16_unit = peer(peers, b"(PI16\r")  # a PI16 unit answering the CRC'd QPI too, without CRC
    verdict = detect.detect(detect.transport_url(pi16_unit.link), timeout=FAST)
    assert verdict.family == "pi16" and len(verdict.evidence) == 1
    assert verdict.evidence[0].read == "read as a pi16 QPI reply: protocol id 'PI16'"


def test_a_damaged_id_reply_is_not_a_verdict(peers: list[Peer]) -> None:
    frame = pi30.reply_frame("PI30")
    bad = peer(peers, frame[:-3] + bytes([frame[-3] ^ 0x01]) + frame[-2:])  # CRC off by one bit
    verdict = detect.detect(detect.transport_url(bad.link), timeout=FAST)
    assert verdict.family is None and verdict.reason.startswith("unknown device")


def test_an_unreachable_link_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert main(["detect", f"tcp://127.0.0.1:{port}", "--timeout", "0.2"]) == 1
    assert "cannot reach the device: cannot connect to 127.0.0.1" in capsys.readouterr().err
    verdict = detect.detect(detect.transport_url(f"tcp://127.0.0.1:{port}"), timeout=0.2)
    assert len(verdict.evidence) == 1  # a link that cannot be opened is not tried four times


@pytest.mark.parametrize("bad", ["pi30+tcp://127.0.0.1:1", "tcp://127.0.0.1", "bogus://x"])
def test_a_bad_transport_url_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", bad]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="positive"):
        detect.detect(detect.transport_url("tcp://127.0.0.1:1"), timeout=0)


# -- auto+ URLs: the cache under STATE_DIR and the re-check ------------------------------------


def test_resolve_caches_the_verdict_per_link_and_uses_it(sims: dict[str, Sim], tmp_path: Path) -> None:
    sim = start(sims, "pi18")
    url = detect.transport_url(f"auto+{sim.link}?timeout={FAST}")
    resolved = detect.resolve(url, tmp_path)
    assert resolved.protocol == "pi18" and resolved.address == url.address
    assert resolved.name == url.name  # the device id does not move with the family
    assert resolved.raw == f"pi18+{sim.link}?timeout={FAST}&name={url.name}"
    cache = detect.cache_path(tmp_path, url)
    saved = json.loads(cache.read_text())
    assert saved["family"] == "pi18" and [e["probe"] for e in saved["evidence"]] == ["pi30", "pi18"]
    asked = sim.unit.requests
    sim.server.stop()  # the cached verdict needs no device
    assert detect.resolve(url, tmp_path) == resolved
    assert sim.unit.requests == asked


def test_a_name_given_in_the_url_is_kept(tmp_path: Path) -> None:
    url = detect.transport_url("auto+serial:///dev/ttyUSB0?name=inverter1&baud=2400")
    assert detect.concrete(url, "pi17").raw == "pi17+serial:///dev/ttyUSB0?name=inverter1&baud=2400"


def test_links_get_their_own_cache_files(tmp_path: Path) -> None:
    a = detect.transport_url("hidraw://?vid=0665&pid=5161")
    b = detect.transport_url("hidraw://?vid=0665&pid=5162")
    c = detect.transport_url("serial:///dev/ttyUSB0?name=x")
    paths = {detect.cache_path(tmp_path, u) for u in (a, b, c)}
    assert len(paths) == 3 and all(p.parent == tmp_path / "detect" for p in paths)


def test_nothing_settled_writes_no_cache(peers: list[Peer], tmp_path: Path) -> None:
    url = detect.transport_url(f"{peer(peers).link}?timeout=0.2")
    with pytest.raises(detect.DetectError, match="silent"):
        detect.resolve(url, tmp_path)
    assert not (tmp_path / "detect").exists()


def test_a_state_dir_that_takes_no_file_does_not_stop_the_device(sims: dict[str, Sim], tmp_path: Path) -> None:
    sim = start(sims, "pi30")
    not_a_dir = tmp_path / "state"
    not_a_dir.write_text("")
    assert detect.resolve(detect.transport_url(f"{sim.link}?timeout={FAST}"), not_a_dir).protocol == "pi30"


def test_an_unreadable_cache_is_probed_again(sims: dict[str, Sim], tmp_path: Path) -> None:
    sim = start(sims, "pi30")
    url = detect.transport_url(f"{sim.link}?timeout={FAST}")
    path = detect.cache_path(tmp_path, url)
    path.parent.mkdir()
    path.write_text('{"family": "pi99"')
    assert detect.resolve(url, tmp_path).protocol == "pi30"
    assert json.loads(path.read_text())["family"] == "pi30"


def test_verify_is_one_exchange(sims: dict[str, Sim]) -> None:
    sim = start(sims, "pi18")
    link = TcpTransport("127.0.0.1", int(sim.link.rsplit(":", 1)[1]))
    try:
        assert detect.verify(link, "pi18", timeout=FAST)
        assert sim.unit.requests == 1
        assert not detect.verify(link, "pi30", timeout=FAST)  # a PI18 unit: ^0 to QPI
        assert sim.unit.requests == 2
    finally:
        link.close()


def test_recheck_finds_the_unit_that_replaced_the_cached_family(sims: dict[str, Sim], tmp_path: Path) -> None:
    sim = start(sims, "pi30")
    url = detect.transport_url(f"{sim.link}?timeout={FAST}")
    stale = detect.Verdict("pi18", "cached before the swap", ())
    detect.save(tmp_path, url, stale)
    assert detect.resolve(url, tmp_path).protocol == "pi18"  # the cache is trusted at start
    link = TcpTransport("127.0.0.1", int(sim.link.rsplit(":", 1)[1]))
    try:
        assert detect.recheck(url, tmp_path, link, "pi18", timeout=FAST) == "pi30"
    finally:
        link.close()
    assert detect.cached(tmp_path, url) == "pi30"
    assert nothing_set(sim)


def test_open_device_reads_the_unit_found_under_the_auto_id(sims: dict[str, Sim], tmp_path: Path) -> None:
    sim = start(sims, "pi18")
    url = detect.transport_url(f"{sim.link}?timeout={FAST}")
    device = detect.open_device(url, state_dir=tmp_path)
    try:
        assert device.protocol == "pi18" and device.id == url.name
        assert 40 < device.query("GS").values["battery_voltage"] < 60  # type: ignore[operator]
    finally:
        device.close()
    assert detect.cached(tmp_path, url) == "pi18"


def test_check_touches_no_device(peers: list[Peer]) -> None:
    listener = peer(peers)
    detect.check(detect.transport_url(listener.link))
    # A connection of our own, accepted after any check() would have made: exactly one.
    with socket.create_connection(("127.0.0.1", int(listener.link.rsplit(":", 1)[1])), timeout=5):
        wait_for(lambda: listener.connections >= 1, 5, what="our connection to be accepted")
    assert listener.connections == 1
    with pytest.raises(ConfigError, match="host:port"):
        detect.check(detect.transport_url("tcp://127.0.0.1"))
