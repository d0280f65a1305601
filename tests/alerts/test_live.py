"""The rules against the real services, and an alert end to end.

One simulated stack for the module — `solarstack dev`'s own Stack (dev.py): the shipped broker,
every simulator and every service of the registry as real processes — without its Prometheus
(the test runs its own), the collector and its VictoriaMetrics (the collector's metrics are
checked against the shared contract's list, so these tests do not depend on its progress).

- every selector of every shipped rule matches a series the services really export;
- a real fault: the inverter simulator is stopped (a device unplugged). A real Prometheus
  scraping the real reader every second, with the SHIPPED rules in a temp copy whose `for:`
  durations are shortened to 1 s (the only change), fires DeviceOffline; a real Alertmanager,
  with the SHIPPED config rendered by the SHIPPED entrypoint and only its group_wait,
  group_interval and repeat_interval shortened in the test's copy, routes it by severity to a
  webhook receiver the test serves; the simulator comes back, the reader recovers, and the
  resolved notification arrives.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from rule_model import ALERTMANAGER, COLLECTOR_METRICS, PROMETHEUS, RULES, Selector, exposition_names, load_rules

from solarstack.dev import Child, Stack, allocate_ports
from solarstack.services.registry import SERVICES
from support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_BIN = shutil.which("prometheus")
ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
#: Children of `solarstack dev` this module does not run (see the module doc).
LEFT_OUT = {"prometheus", "victoria-metrics", "collector"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS_BIN is None or ALERTMANAGER_BIN is None, reason="prometheus/alertmanager missing"),
]


def child(stack: Stack, name: str) -> Child:
    return next(c for c in stack.children if c.name == name)


def targets(stack: Stack) -> dict[str, str]:
    """job (the registry's service name) -> host:port of its /metrics, as `solarstack dev` runs it."""
    running = {c.name for c in stack.children}
    return {s.name: f"127.0.0.1:{child(stack, s.name).env[s.port_var]}" for s in SERVICES if s.name in running}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        root=ROOT, workdir=tmp_path_factory.mktemp("stack"), host="127.0.0.1", ports=allocate_ports(0, "127.0.0.1")
    )
    stack.build()
    stack.children = [c for c in stack.children if c.name not in LEFT_OUT]
    # poll every second and give up on a silent device after two failed polls, so the fault
    # shows within seconds (the defaults: 10 s polls, a breaker after 5 failures)
    child(stack, "inverter").env.update(
        INVERTER_POLL_SECONDS="1",
        INVERTER_TIMEOUT="0.5",
        INVERTER_RETRIES="0",
        INVERTER_BREAKER_FAILURES="2",
        INVERTER_BREAKER_RESET_SECONDS="1",
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


# --- every selector matches an exported series ---------------------------------------------------
def exported(stack: Stack) -> dict[str, set[str]]:
    """job -> every series name its /metrics declares; the collector's from the contract."""
    names = {
        job: exposition_names(requests.get(f"http://{target}/metrics", timeout=5).text)
        for job, target in targets(stack).items()
    }
    names["collector"] = set(COLLECTOR_METRICS)
    return names


def _job_matches(selector: Selector, job: str) -> bool:
    op, value = selector.labels.get("job", ("=~", ".*"))
    hit = job == value if op in ("=", "!=") else re.fullmatch(value, job) is not None
    return hit if op in ("=", "=~") else not hit


# Series of protocol families the demo does not simulate (it runs a PI30 inverter); that they are
# real field-table series is test_rule_names.py's proof.
NOT_IN_DEMO = {
    "solarstack_grid_export_energy_joules_total": "only PI17 and PI16 count grid export",
    "solarstack_battery_temperature_celsius": "an inverter's battery sensor: PI30's QPGSn (parallel) and PI17's GS",
}


def unmatched(by_job: dict[str, set[str]]) -> list[str]:
    missing = []
    for rule in load_rules():
        for selector in rule.selectors():
            if selector.name == "up":  # Prometheus' own, one per target
                continue
            if any(selector.matches_name(n) for n in NOT_IN_DEMO):
                continue
            names = {n for job, ns in by_job.items() if _job_matches(selector, job) for n in ns}
            if not any(selector.matches_name(n) for n in names):
                missing.append(f"{rule.name}: {selector.describe()} {selector.labels or ''}")
    return missing


def test_every_series_the_rules_name_is_exported(stack: Stack) -> None:
    # readings appear after each reader's first poll; the names are then stable
    wait_for(
        lambda: not unmatched(exported(stack)),
        30,
        interval=0.5,
        what="every rule selector to match an exported series",
        ignore=(requests.RequestException,),
    )
    by_job = exported(stack)
    assert {"inverter", "bms", "house", "weather", "web"} <= set(by_job)
    assert unmatched(by_job) == []
    # and the check bites: a misspelt series matches nothing
    assert not Selector(name="solarstack_soc_percent").matches_name("solarstack_soc_ratio")
    assert unmatched({"bms": by_job["bms"]})  # the inverter's series are not the bms job's


# --- the end-to-end alert ------------------------------------------------------------------------
class Webhook:
    """An HTTP receiver for Alertmanager's webhook: every POSTed JSON body, in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def notifications(self, alertname: str, device: str, status: str) -> list[dict[str, Any]]:
        """Notifications holding an alert `alertname` of `device` in `status`."""
        with self.lock:
            bodies = list(self.bodies)
        wanted = {"alertname": alertname, "device": device}
        return [
            b
            for b in bodies
            for a in b["alerts"]
            if a["status"] == status and all(a["labels"].get(k) == v for k, v in wanted.items())
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def ready(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def alertmanager_config(tmp_path: Path) -> Path:
    """The shipped template with only its timings shortened (the test's copy)."""
    text = (ALERTMANAGER / "alertmanager.yml").read_text()
    for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1m")):
        text, count = re.subn(rf"^(\s*{key}:) \S+$", rf"\1 {value}", text, flags=re.M)
        assert count, key
    copy = tmp_path / "alertmanager.template.yml"
    copy.write_text(text)
    return copy


def prometheus_config(tmp_path: Path, jobs: dict[str, str], alertmanager: str, port: int) -> Path:
    """The shipped prometheus.yml and rules, with the stack's addresses, 1 s scrapes and
    evaluations, and every rule's `for:` shortened to 1 s (the test's copies)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in RULES:
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            group.pop("interval", None)
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "1s"
        (rules / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(rules / "*.yml")]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    scrape = []
    for job in config["scrape_configs"]:
        if job["job_name"] == "prometheus":
            job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
        elif job["job_name"] in jobs:
            job["static_configs"] = [{"targets": [jobs[job["job_name"]]]}]
        else:
            continue  # a service this stack does not run
        scrape.append(job)
    config["scrape_configs"] = scrape
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_a_device_fault_fires_routes_and_resolves(stack: Stack, tmp_path: Path) -> None:
    assert PROMETHEUS_BIN is not None and ALERTMANAGER_BIN is not None
    webhook = Webhook()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        am_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALERT")}
        env.update(
            ALERTMANAGER_TEMPLATE=str(alertmanager_config(tmp_path)),
            ALERTMANAGER_CONFIG=str(tmp_path / "alertmanager.yml"),
            ALERTMANAGER_BIN=ALERTMANAGER_BIN,
            ALERT_WEBHOOK_URL=webhook.url,
        )
        argv = ["sh", str(ALERTMANAGER / "entrypoint.sh"), f"--storage.path={tmp_path / 'am'}"]
        argv += [f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="]
        procs.append(start(argv, tmp_path / "alertmanager.log", env))
        prom_port = free_port()
        config = prometheus_config(tmp_path, targets(stack), f"127.0.0.1:{am_port}", prom_port)
        argv = [PROMETHEUS_BIN, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
        argv += [f"--web.listen-address=127.0.0.1:{prom_port}", "--rules.alert.resend-delay=1s"]
        procs.append(start(argv, tmp_path / "prometheus.log"))
        prometheus = f"http://127.0.0.1:{prom_port}"
        wait_for(lambda: ready(f"http://127.0.0.1:{am_port}/-/ready"), 10, what="alertmanager ready")
        wait_for(lambda: ready(f"{prometheus}/-/ready"), 10, what="prometheus ready")

        # before the fault: Prometheus sees the inverter answer, and nothing says otherwise
        up = 'solarstack_device_up{job="inverter",device="inverter"} == 1'
        wait_for(lambda: query(prometheus, up), 20, interval=0.2, what="the inverter up in Prometheus")
        assert webhook.notifications("DeviceOffline", "inverter", "firing") == []

        # the fault: the simulated inverter goes away, as if unplugged
        sim = child(stack, "sim-inverter")
        began = time.monotonic()
        sim.signal_group(signal.SIGTERM)
        assert sim.proc is not None
        sim.proc.wait(10)
        firing = wait_for(
            lambda: webhook.notifications("DeviceOffline", "inverter", "firing"),
            45,
            interval=0.1,
            what="DeviceOffline of the inverter at the webhook",
        )
        fired_after = time.monotonic() - began
        note = firing[0]
        assert note["receiver"] == "critical" and note["status"] == "firing"  # routed by its severity
        alert = next(a for a in note["alerts"] if a["labels"]["alertname"] == "DeviceOffline")
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["job"] == "inverter"
        assert alert["annotations"]["summary"] == "inverter does not answer"
        assert query(prometheus, 'solarstack_device_up{device="inverter"} == 0'), "the reader saw the fault"

        # the fault clears: the simulator is back on its port, the reader reconnects
        began = time.monotonic()
        sim.start()
        resolved = wait_for(
            lambda: webhook.notifications("DeviceOffline", "inverter", "resolved"),
            45,
            interval=0.1,
            what="the resolved DeviceOffline at the webhook",
        )
        resolved_after = time.monotonic() - began
        assert resolved[0]["receiver"] == "critical"
        assert query(prometheus, up), "the reader answers again"
        print(
            f"DeviceOffline fired {fired_after:.1f} s after the fault, resolved {resolved_after:.1f} s after it cleared"
        )
    finally:
        for proc in reversed(procs):
            stop(proc)
        webhook.close()
