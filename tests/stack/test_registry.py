"""One registry of services (src/solarstack/services/registry.py) and everything that names
services agrees with it: the CLI's `run` / `sim` choices, `solarstack dev`'s processes, the
compose file (resolved by a real Compose), prometheus/prometheus.yml, the broker's ACL (the
template, the entrypoint's reader loop and the ACL it actually generates), docs/services.md,
pyproject's extras and the folders under services/. Each check names the file that lists a
service the registry lacks, or lacks one it has."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from compose_model import ROOT, resolved

from solarstack import cli
from solarstack.dev import Stack, allocate_ports
from solarstack.services.registry import OTHER_MQTT_USERS, SERVICES, SIMULATORS, readers

NAMES = {s.name for s in SERVICES}
USERS = {s.mqtt_user for s in SERVICES}
READERS = {s.name for s in readers()}


def disagreement(where: str, named: Iterable[str], expected: Iterable[str]) -> list[str]:
    named, expected = set(named), set(expected)
    return [f"{where} names {n!r}, which the registry lacks" for n in sorted(named - expected)] + [
        f"{where} lacks {e!r}, which the registry has" for e in sorted(expected - named)
    ]


# --- what each file names ---------------------------------------------------------------------
def prometheus_jobs(text: str) -> dict[str, list[str]]:
    """job -> targets, Prometheus' own job left out."""
    jobs = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in yaml.safe_load(text)["scrape_configs"]
    }
    jobs.pop("prometheus", None)
    return jobs


def acl_template_users(text: str) -> set[str]:
    return set(re.findall(r"^user (\S+)$", text, re.M))


def entrypoint_readers(text: str) -> set[str]:
    loops = re.findall(r"^for reader in ([a-z0-9_ ]+); do$", text, re.M)
    assert len(loops) == 1, "mosquitto/entrypoint.sh: expected one `for reader in …; do` loop"
    return set(loops[0].split())


def docs_tables(text: str) -> list[list[list[str]]]:
    """Every markdown table's body rows (cells stripped), in order."""
    tables: list[list[list[str]]] = []
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if rows is None:
                rows = []
                tables.append(rows)
            elif not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        else:
            rows = None
    return tables


def _choices(parser: argparse.ArgumentParser, command: str, dest: str) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices[command]
            return {c for a in sub._actions if a.dest == dest for c in (a.choices or ())}
    raise AssertionError("no sub-commands")


# --- the registry itself ----------------------------------------------------------------------
def test_every_row_has_its_code_and_its_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    everything = set(re.findall(r"\[(.*)\]", extras["all"][0])[0].split(","))
    for row in (*SERVICES, *SIMULATORS):
        module = importlib.import_module(row.module)
        assert callable(getattr(module, "main", getattr(module, "run", None))), f"{row.module}: no main() or run()"
        assert row.extra in extras, f"{row.name}: pyproject.toml has no extra {row.extra!r}"
        assert row.extra in everything, f"{row.extra} missing from solarstack[all]"
    assert len(NAMES) == len(SERVICES) and len({s.name for s in SIMULATORS}) == len(SIMULATORS)
    for sim in SIMULATORS:
        assert sim.reader in READERS, f"simulator {sim.name} is polled by {sim.reader!r}, not a reader"


# --- the CLI and `solarstack dev` read it ----------------------------------------------------------
def test_cli_offers_exactly_the_registry() -> None:
    parser = cli._parser()
    assert _choices(parser, "run", "service") == NAMES
    assert _choices(parser, "sim", "simulator") == {s.name for s in SIMULATORS}


def test_dev_starts_every_service_and_simulator(tmp_path: Path) -> None:
    stack = Stack(root=ROOT, workdir=tmp_path, host="127.0.0.1", ports=allocate_ports(40000, "127.0.0.1"))
    stack.build()
    children = {c.name: c for c in stack.children}
    infra = {"mosquitto", "prometheus", "victoria-metrics"}
    assert disagreement("solarstack dev", set(children) - infra, NAMES | {s.compose for s in SIMULATORS}) == []
    broker = children["mosquitto"].env
    assert (
        disagreement(
            "solarstack dev's broker",
            {k.removeprefix("MQTT_PASSWORD_").lower() for k in broker if k.startswith("MQTT_PASSWORD_")},
            USERS | {"homeassistant"},
        )
        == []
    )
    for row in SERVICES:
        env = children[row.name].env
        assert env["MQTT_USERNAME"] == row.mqtt_user
        assert row.port_var in env and int(env[row.port_var]) > 0
        if row.devices_var:
            sims = [s.url("127.0.0.1", stack.ports[f"sim_{s.name}"]) for s in SIMULATORS if s.reader == row.name]
            sims += [row.demo_devices] if row.demo_devices else []
            assert env[row.devices_var] == broker[row.devices_var] == ",".join(sims)
    if "prometheus" in children:
        jobs = prometheus_jobs((tmp_path / "prometheus.yml").read_text())
        assert disagreement("solarstack dev's prometheus.yml", jobs, NAMES) == []


# --- the static files are held to it ---------------------------------------------------------------
@pytest.fixture(scope="module")
def model(compose_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return resolved(compose_v2, tmp_path_factory.mktemp("compose"))


def test_compose_runs_every_service_as_registered(model: dict) -> None:
    services = model["services"]
    built = {n for n, s in services.items() if "build" in s}
    assert disagreement("docker-compose.yml", built, {s.compose for s in (*SERVICES, *SIMULATORS)}) == []
    for row in SERVICES:
        svc = services[row.compose]
        env = svc["environment"]
        assert svc["build"]["args"]["EXTRA"] == row.extra, row.name
        assert svc["command"] == list(row.command), row.name
        assert env["MQTT_USERNAME"] == row.mqtt_user, row.name
        assert env[row.port_var] == str(row.port), row.name
        assert f":{row.port}/health" in " ".join(svc["healthcheck"]["test"]), f"{row.name}: healthcheck port"
        devices = {k for k in env if k.endswith("_DEVICES")}
        assert devices == ({row.devices_var} if row.devices_var else set()), row.name
        if row.demo_devices:  # with no devices configured, the reader serves its in-process demo device
            assert row.demo_devices in env[row.devices_var], row.name
    for sim in SIMULATORS:
        svc = services[sim.compose]
        assert svc["profiles"] == ["demo"] and svc["build"]["args"]["EXTRA"] == sim.extra
        assert svc["command"] == list(sim.command("0.0.0.0")), sim.name
        assert f"('127.0.0.1', {sim.port})" in " ".join(svc["healthcheck"]["test"]), f"{sim.name}: healthcheck port"
        # with no devices configured, its reader polls it
        assert sim.url(sim.compose) in services[sim.reader]["environment"][sim.reader.upper() + "_DEVICES"]


def test_compose_broker_has_an_account_and_the_devices_of_every_user(model: dict) -> None:
    broker = model["services"]["mosquitto"]["environment"]
    passwords = {k.removeprefix("MQTT_PASSWORD_").lower() for k in broker if k.startswith("MQTT_PASSWORD_")}
    assert disagreement("docker-compose.yml (mosquitto)", passwords, USERS | {"homeassistant"}) == []
    devices = {k for k in broker if k.endswith("_DEVICES")}
    assert devices == {s.devices_var for s in readers()}
    for row in readers():
        assert broker[row.devices_var] == model["services"][row.compose]["environment"][row.devices_var]


def test_prometheus_scrapes_every_service_where_it_listens() -> None:
    jobs = prometheus_jobs((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert disagreement("prometheus/prometheus.yml", jobs, NAMES) == []
    for row in SERVICES:
        assert jobs[row.name] == [f"{row.compose}:{row.port}"], row.name


def test_acl_template_and_entrypoint_cover_every_user() -> None:
    template = acl_template_users((ROOT / "mosquitto" / "acl.template").read_text())
    loop = entrypoint_readers((ROOT / "mosquitto" / "entrypoint.sh").read_text())
    assert disagreement("mosquitto/entrypoint.sh (reader loop)", loop, READERS) == []
    expected = (USERS - READERS) | set(OTHER_MQTT_USERS)
    assert disagreement("mosquitto/acl.template", template, expected) == []


def test_generated_acl_has_a_block_for_every_user(tmp_path: Path) -> None:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"password_file {tmp_path}/passwd\nacl_file {tmp_path}/acl\n")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto" / "acl.template"),
        **{f"MQTT_PASSWORD_{u.upper()}": f"pw-{u}" for u in (*USERS, "homeassistant")},
        **{s.devices_var: f"pi30+tcp://sim:1?name={s.name}1" for s in readers() if s.devices_var},
    }
    subprocess.run(["sh", str(ROOT / "mosquitto" / "entrypoint.sh"), "true"], env=env, check=True, capture_output=True)
    generated = acl_template_users((tmp_path / "acl").read_text())
    assert disagreement("the generated ACL", generated, USERS | set(OTHER_MQTT_USERS)) == []
    accounts = {line.split(":", 1)[0] for line in (tmp_path / "passwd").read_text().splitlines()}
    assert accounts == USERS | set(OTHER_MQTT_USERS)


def test_docs_list_every_service_and_simulator() -> None:
    services, simulators = docs_tables((ROOT / "docs" / "services.md").read_text())[:2]
    listed = {row[0].strip("`"): row for row in services}
    assert disagreement("docs/services.md (services)", listed, NAMES) == []
    for row in SERVICES:
        cells = listed[row.name]
        assert cells[1] == f"`solarstack {' '.join(row.command)}`", cells
        assert cells[2:4] == [f"`{row.extra}`", f"`{row.compose}`"], cells
        assert cells[4] == f"{row.port} (`{row.port_var}`)" and cells[5] == f"`{row.mqtt_user}`", cells
        assert cells[6] == (f"`{row.devices_var}`" if row.devices_var else "—"), cells
    sims = {row[0].strip("`"): row for row in simulators}
    assert disagreement("docs/services.md (simulators)", sims, {s.name for s in SIMULATORS}) == []
    for sim in SIMULATORS:
        cells = sims[sim.name]
        assert cells[2:4] == [f"`{sim.compose}`", str(sim.port)], cells
        assert cells[4] == f"`{sim.reader}` as `{sim.url(sim.compose)}`", cells


def test_service_folders_belong_to_a_service(model: dict) -> None:
    """services/<folder>/ holds what one service needs: a registry row's, or bind-mounted by compose."""
    mounted = {
        Path(v["source"]).relative_to(ROOT / "services").parts[0]
        for svc in model["services"].values()
        for v in svc.get("volumes", [])
        if v["type"] == "bind" and Path(v["source"]).is_relative_to(ROOT / "services")
    }
    folders = {p.name for p in (ROOT / "services").iterdir() if p.is_dir()}
    owned = {s.folder for s in SERVICES if s.folder}
    assert folders <= owned | mounted, f"services/ folders nobody owns: {sorted(folders - owned - mounted)}"
    assert owned <= folders, f"registry folders missing under services/: {sorted(owned - folders)}"


def test_the_checks_catch_a_service_the_registry_lacks() -> None:
    """Each reader above reports a stray service, named with its file."""
    prom = (
        (ROOT / "prometheus" / "prometheus.yml")
        .read_text()
        .replace(
            "scrape_configs:\n",
            "scrape_configs:\n  - job_name: boiler\n    static_configs:\n      - targets: [boiler:9100]\n",
        )
    )
    assert disagreement("prometheus/prometheus.yml", prometheus_jobs(prom), NAMES) == [
        "prometheus/prometheus.yml names 'boiler', which the registry lacks"
    ]
    entry = (ROOT / "mosquitto" / "entrypoint.sh").read_text().replace("for reader in ", "for reader in boiler ")
    assert "boiler" in entrypoint_readers(entry) - READERS
    acl = (ROOT / "mosquitto" / "acl.template").read_text() + "\nuser weather\ntopic read x\n"
    assert "weather" in acl_template_users(acl)
    docs = (ROOT / "docs" / "services.md").read_text().replace("| `web` |", "| `boiler` | x |\n| `web` |", 1)
    assert "boiler" in {row[0].strip("`") for row in docs_tables(docs)[0]}
