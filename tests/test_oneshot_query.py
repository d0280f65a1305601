"""mpp-solar users' habits in `solarstack query` (issue 12, item 4), against the real inverter
simulator (`solarstack sim inverter --tcp 0`, PI30 and `--protocol pi18`, a separate process)
through the CLI's main: `QPIGS#QPIRI#QMOD` lists, the names `get_status`, `get_settings`,
`get_device_id`, `get_version`, `--output prometheus` checked by promtool, and `--output-file`
replaced atomically (a new inode, never the old file rewritten in place, no temporary left).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from solarstack import cli
from solarstack.core.device_url import parse_device_url
from solarstack.devices.base import QUERY_NAMES, named_queries
from solarstack.devices.registry import open_device
from solarstack.sim.bms import build_server

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

#: What each name asks, per family (devices/pi30.py, devices/pi18.py `named_queries`).
NAMES = {
    "pi30": {
        "get_status": ["QPIGS", "QMOD", "QPIWS"],
        "get_settings": ["QPIRI", "QFLAG"],
        "get_device_id": ["QID"],
        "get_version": ["QVFW"],
    },
    "pi18": {
        "get_status": ["GS", "MOD", "FWS"],
        "get_settings": ["PIRI", "FLAG"],
        "get_device_id": ["ID"],
        "get_version": ["VFW"],
    },
}
#: Status, ratings and mode of each family: the `QPIGS#QPIRI#QMOD` habit.
THREE = {"pi30": ["QPIGS", "QPIRI", "QMOD"], "pi18": ["GS", "PIRI", "MOD"]}
#: The `solarstack` command, run as a separate process.
SOLARSTACK = (sys.executable, "-m", "solarstack.cli")
#: A query the single-unit simulator NAKs, as a real unit outside a parallel system does.
REFUSED = {"pi30": "QPGS1", "pi18": "PGS1"}


class Simulator:
    """`solarstack sim inverter --tcp 0 --control 0` as a user starts it."""

    def __init__(self, protocol: str, log: Path) -> None:
        self.protocol = protocol
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [*SOLARSTACK, "sim", "inverter", "--tcp", "0", "--control", "0", "--protocol", protocol, "--seed", "7"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.url = f"{protocol}+{self._line()}?name=inv"  # the first line is tcp://127.0.0.1:PORT
        self.control_port = int(self._line().rsplit(":", 1)[1])

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # blocks until printed; "" if the simulator died
        assert line, f"simulator exited ({self.proc.poll()}): {Path(self._log.name).read_text()}"
        return line

    def requests(self) -> int:
        """Requests the simulator has answered so far (its control port's `state`)."""
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(b"state\n")
            state = s.makefile().readline()
        return int(state.split("requests=")[1].split()[0])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module", params=["pi30", "pi18"])
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    s = Simulator(request.param, tmp_path_factory.mktemp("sim") / "sim.log")
    yield s
    s.close()


def query(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["query", *args, "--timeout", "3"])
    out, err = capsys.readouterr()
    return code, out, err


def asked(text_output: str) -> list[str]:
    """The commands a text answer shows, in order (each block opens with `CMD (device, time)`)."""
    return [line.split()[0] for line in text_output.splitlines() if line and not line.startswith(" ")]


# -- `#` lists and names -----------------------------------------------------------------


def test_a_hash_list_asks_like_separate_arguments(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    three = THREE[sim.protocol]
    code, listed, err = query(capsys, sim.url, "#".join(three))
    assert code == 0, err
    code, separate, err = query(capsys, sim.url, *three)
    assert code == 0, err
    assert asked(listed) == asked(separate) == three
    code, out, err = query(capsys, sim.url, "#".join(three), "--json")
    assert code == 0, err
    from_list = json.loads(out)
    code, out, err = query(capsys, sim.url, *three, "--json")
    assert set(from_list) == set(json.loads(out)) and "battery_voltage" in from_list and "mode" in from_list
    # a stray separator asks nothing, and a command named twice is asked once
    code, out, err = query(capsys, sim.url, f"{three[0]}##{three[2]}#", three[0])
    assert code == 0, err
    assert asked(out) == [three[0], three[2]]


@pytest.mark.parametrize("name", ["get_status", "get_settings", "get_device_id", "get_version"])
def test_each_name_asks_the_family_s_queries(name: str, sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = query(capsys, sim.url, name)
    assert code == 0, err
    assert asked(out) == NAMES[sim.protocol][name]
    if name == "get_device_id":
        assert "Serial number" in out


def test_names_mix_with_commands_in_a_hash_list(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    names = NAMES[sim.protocol]
    code, out, err = query(capsys, sim.url, "get_version#get_device_id", "--json")
    assert code == 0, err
    values = json.loads(out)
    assert values["serial_number"] and values["main_cpu_firmware"]
    code, out, err = query(capsys, sim.url, f"GET_VERSION#{names['get_device_id'][0]}")
    assert asked(out) == names["get_version"] + names["get_device_id"]


def test_an_unknown_name_is_one_line_listing_the_names(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    before = sim.requests()
    code, out, err = query(capsys, sim.url, "QMOD#get_everything")
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line and "get_everything" in line
    assert all(name in line for name in (*NAMES[sim.protocol], "all")), line
    assert sim.requests() == before  # refused before anything reached the device (not even QMOD)


def test_a_family_without_its_own_names_gets_them_from_its_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    """A JK BMS (devices/bms.py) defines no named_queries(): get_status is what its schedule
    polls, and the names it lacks are refused, saying what it has."""
    server = build_server("jkserial", interval=0.2)
    url = f"jkserial+serial://{server.add_pty()}"
    server.start()
    try:
        code, out, err = query(capsys, url, "get_status")
        assert code == 0, err
        assert asked(out) == ["read_all"]
        code, out, err = query(capsys, url, "get_version")
    finally:
        server.stop()
    assert code == 2
    assert err.strip() == (
        "solarstack: jkserial devices have no get_version; names jkserial knows: get_status, all (or any query by name)"
    )


def test_the_names_table_in_the_docs_is_what_the_devices_run() -> None:
    rows = [line.strip("|").split("|") for line in DOCS.read_text().splitlines() if line.startswith("| `get_")]
    families = ("pi30", "pi18", "pi17", "pi16", "pi41")  # the table's columns, in order
    documented = {
        cells[0].strip(" `"): dict(zip(families, (c.split() for c in cells[1:]), strict=True)) for cells in rows
    }
    assert list(documented) == list(QUERY_NAMES)
    for family in families:
        device = open_device(parse_device_url(f"{family}+tcp://127.0.0.1:1"))  # connects on first use: never here
        assert named_queries(device) == {name: tuple(documented[name][family]) for name in QUERY_NAMES}
        if family in NAMES:
            assert named_queries(device) == {name: tuple(commands) for name, commands in NAMES[family].items()}
        device.close()


# -- Prometheus ----------------------------------------------------------------------------


def promtool(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)


def test_prometheus_output_passes_promtool(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = query(capsys, sim.url, "get_status#get_settings#get_device_id", "--output", "prometheus")
    assert code == 0, err
    checked = promtool(out)
    assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), checked
    samples = {s.name: s for family in text_string_to_metric_families(out) for s in family.samples}
    voltage = samples["solarstack_battery_voltage_volts"]
    assert voltage.labels == {"device": "inv"} and 40 < voltage.value < 60 and voltage.timestamp is None
    assert samples["solarstack_mode_info"].labels["value"] in ("line", "battery", "hybrid")
    assert samples["solarstack_serial_number_info"].labels["value"].isdigit()
    assert all(name.startswith("solarstack_") for name in samples)
    assert "# TYPE solarstack_battery_voltage_volts gauge" in out


def test_prometheus_and_json_are_one_choice(sim: Simulator) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["query", sim.url, "QMOD", "--json", "--output", "prometheus"])
    assert exit_.value.code == 2


# -- --output-file -------------------------------------------------------------------------


def test_output_file_is_replaced_in_one_rename(sim: Simulator, tmp_path: Path) -> None:
    """Run as cron would run it for node_exporter's textfile collector."""
    target = tmp_path / "inverter.prom"
    target.write_text("# the previous run\n")
    target.chmod(0o640)
    old_inode = target.stat().st_ino
    proc = subprocess.run(
        [*SOLARSTACK, "query", sim.url, "get_status", "--output", "prometheus", "--output-file", str(target)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    text = target.read_text()
    assert 'solarstack_battery_voltage_volts{device="inv"}' in text and promtool(text).returncode == 0
    st = target.stat()
    assert st.st_ino != old_inode  # a new file renamed over the old one, not the old one rewritten
    assert stat.S_IMODE(st.st_mode) == 0o640  # the user's mode kept
    assert os.listdir(tmp_path) == ["inverter.prom"]  # no temporary left beside it


def test_a_new_output_file_is_readable_as_the_umask_allows(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """mkstemp's 0600 would lock out a node_exporter running as its own user."""
    target = tmp_path / "inverter.prom"
    umask = os.umask(0o022)
    try:
        code, out, err = query(capsys, sim.url, THREE[sim.protocol][2], "--output-file", str(target))
    finally:
        os.umask(umask)
    assert code == 0 and out == "", err
    assert asked(target.read_text()) == [THREE[sim.protocol][2]]  # any output goes to the file: here text
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["inverter.prom"]


def test_a_failed_query_leaves_the_file_alone(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "inverter.prom"
    target.write_text("# the previous run\n")
    status = THREE[sim.protocol][0]
    code, out, err = query(
        capsys, sim.url, f"{status}#{REFUSED[sim.protocol]}", "--output", "prometheus", "--output-file", str(target)
    )
    assert code == 1 and out == "" and REFUSED[sim.protocol] in err, err
    assert target.read_text() == "# the previous run\n"  # half an answer is not written
    assert os.listdir(tmp_path) == ["inverter.prom"]
    code, out, err = query(capsys, sim.url, status, "--output-file", str(tmp_path / "missing" / "x.prom"))
    assert code == 2 and "--output-file" in err and "\n" not in err.strip()
