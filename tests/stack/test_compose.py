"""docker-compose.yml, the Dockerfiles and prometheus.yml, checked by the real tools without an
engine: two compose implementations (`config` exits 1 on unknown keys, bad conditions and
dependencies on undefined services), hadolint, promtool; then the resolved model is read for
the rules every service must follow (healthcheck, non-root, restart, log and memory limits)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from compose_model import COMPOSE_FILE, ROOT, compose, env_file, resolved

from solarstack.services.registry import SERVICES

DOCKERFILES = sorted(ROOT.glob("services/**/Dockerfile"))
PROFILES = ("", "demo", "ha")


@pytest.mark.parametrize("profile", PROFILES)
def test_config_validates_with_compose_v1(compose_v1: Path, tmp_path: Path, profile: str) -> None:
    result = compose(compose_v1, env_file(tmp_path), "config", "-q", profiles=(profile,))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_config_validates_with_compose_v2(compose_v2: Path, tmp_path: Path, profile: str) -> None:
    result = compose(compose_v2, env_file(tmp_path), "config", "-q", profiles=(profile,))
    assert result.returncode == 0, result.stderr


def test_validators_catch_a_broken_file(compose_v1: Path, compose_v2: Path, tmp_path: Path) -> None:
    """The checks above mean something: a dependency on an undefined service is refused."""
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text().replace(
        "mosquitto:\n      condition: service_healthy", "mosquito:\n      condition: service_healthy", 1
    )
    assert text != COMPOSE_FILE.read_text()
    broken.write_text(text)
    env = env_file(tmp_path)
    for binary in (compose_v1, compose_v2):
        cmd = [str(binary), "--project-directory", str(ROOT), "-f", str(broken), "--env-file", str(env), "config", "-q"]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert result.returncode != 0
        assert "mosquito" in result.stderr


def test_missing_secret_is_refused_with_a_hint(compose_v2: Path, tmp_path: Path) -> None:
    result = compose(compose_v2, env_file(tmp_path, MQTT_PASSWORD_WEB=""), "config", "-q")
    assert result.returncode != 0
    assert "set MQTT_PASSWORD_WEB in .env" in result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_passes(hadolint: Path, dockerfile: Path) -> None:
    result = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def final_stage(dockerfile: Path) -> list[str]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last_from:]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_image_is_multistage_non_root_on_the_base_argument(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert "ARG PYTHON_IMAGE=" in text
    assert re.findall(r"^FROM \$\{PYTHON_IMAGE\}", text, re.M) and len(re.findall(r"^FROM ", text, re.M)) >= 2
    stage = final_stage(dockerfile)
    users = [line.split()[1] for line in stage if line.upper().startswith("USER ")]
    assert users, "final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"final USER {users[-1]} must be a numeric non-root uid"
    # No build tools reach the final image: it only copies the built virtualenv.
    assert not any(re.search(r"\b(gcc|build-essential|pip install)\b", line) for line in stage)


def test_every_service_follows_the_rules(compose_v2: Path, tmp_path: Path) -> None:
    model = resolved(compose_v2, tmp_path)
    dockerfile_users = {
        str(p.relative_to(ROOT)): [ln.split()[1] for ln in final_stage(p) if ln.upper().startswith("USER ")][-1]
        for p in DOCKERFILES
    }
    for name, svc in model["services"].items():
        test = svc.get("healthcheck", {}).get("test")
        assert test, f"{name}: no healthcheck"
        # podman's Docker API re-splits CMD arguments at spaces: such a check can never pass there.
        assert test[0] != "CMD" or not any(" " in arg for arg in test[1:]), f"{name}: use CMD-SHELL"
        assert svc.get("restart") == "unless-stopped", f"{name}: restart policy"
        assert svc["logging"]["options"]["max-size"], f"{name}: log size limit"
        assert 0 < int(svc["mem_limit"]) <= 1024**3, f"{name}: memory limit fitting a Raspberry Pi 4"
        if "build" in svc:
            user = svc.get("user") or dockerfile_users[svc["build"]["dockerfile"]]
        else:
            user = svc.get("user", "")
        assert user and user.split(":")[0] not in ("0", "root"), f"{name}: runs as {user!r}"
        for dep, cond in svc.get("depends_on", {}).items():
            assert cond["condition"] in ("service_healthy", "service_started"), f"{name} -> {dep}"


def test_every_dockerfile_is_built_by_compose(compose_v2: Path, tmp_path: Path) -> None:
    model = resolved(compose_v2, tmp_path)
    built = {svc["build"]["dockerfile"] for svc in model["services"].values() if "build" in svc}
    assert built == {str(p.relative_to(ROOT)) for p in DOCKERFILES}


@pytest.mark.parametrize("devices", [{}, {"INVERTER_DEVICES": "pi30+hidraw://?vid=0665&pid=5161&name=inv1"}])
def test_broker_acl_sees_the_readers_devices(compose_v2: Path, tmp_path: Path, devices: dict[str, str]) -> None:
    """Mosquitto builds each reader's ACL from the same *_DEVICES the reader polls."""
    model = resolved(compose_v2, tmp_path, **devices)
    broker_env = model["services"]["mosquitto"]["environment"]
    readers = [n for n, s in model["services"].items() if any(k.endswith("_DEVICES") for k in s.get("environment", {}))]
    readers.remove("mosquitto")
    assert {"inverter", "bms"} <= set(readers)
    for reader in readers:
        row = next(s for s in SERVICES if s.compose == reader)  # compose `house-sensor` is reader `house`
        var = f"{row.name.upper()}_DEVICES"
        assert broker_env[var] == model["services"][reader]["environment"][var]
        assert model["services"][reader]["environment"]["MQTT_USERNAME"] == row.mqtt_user
    if devices:
        assert broker_env["INVERTER_DEVICES"] == devices["INVERTER_DEVICES"]


def test_demo_profile_points_readers_at_simulators(compose_v2: Path, tmp_path: Path) -> None:
    """With no devices configured, every reader polls a simulator that only the demo profile runs."""
    model = resolved(compose_v2, tmp_path)
    sims = {n for n, s in model["services"].items() if s.get("profiles") == ["demo"]}
    readers = {
        n: s["environment"][f"{n.upper()}_DEVICES"]
        for n, s in model["services"].items()
        if f"{n.upper()}_DEVICES" in s.get("environment", {})
    }
    assert set(readers) >= {"inverter", "bms"}
    for name, url in readers.items():
        host = re.match(r"[a-z0-9]+\+(?:tcp|http)://([^:/]+):\d+", url)  # the weather simulator speaks HTTP
        assert host and host.group(1) in sims, f"{name} polls {url}, not a demo simulator"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_prometheus_config_is_valid() -> None:
    """Which services it scrapes, and where: tests/stack/test_registry.py."""
    result = subprocess.run(
        ["promtool", "check", "config", str(ROOT / "prometheus/prometheus.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_datasources_point_at_the_stack(compose_v2: Path, tmp_path: Path) -> None:
    """Provisioned data sources use compose service names, and every $VAR they read is passed to Grafana."""
    import yaml

    model = resolved(compose_v2, tmp_path)
    grafana_env = model["services"]["grafana"]["environment"]
    mounted = {v["source"] for v in model["services"]["grafana"]["volumes"] if v["type"] == "bind"}
    assert str(ROOT / "grafana/provisioning/datasources") in mounted
    text = (ROOT / "grafana/provisioning/datasources/solarstack.yml").read_text()
    sources = {d["type"]: d for d in yaml.safe_load(text)["datasources"]}
    assert set(sources) == {"prometheus", "influxdb"}
    for source in sources.values():
        host, port = source["url"].removeprefix("http://").split(":")
        assert host in model["services"], source["url"]
        assert any(p["target"] == int(port) for p in model["services"][host].get("ports", [])), source["url"]
    for var in re.findall(r"\$([A-Z_]+)", text):
        assert grafana_env.get(var), f"grafana does not get ${var}"
    assert grafana_env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
