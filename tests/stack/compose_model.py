"""docker-compose.yml through a real Compose implementation, without an engine: a .env made
from .env.example with the secrets filled in, `config` run with it, the resolved model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from solarstack.services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Every secret .env must hold: one broker password per service of the registry (its MQTT
# user), and the infrastructure's own. A new service needs no edit here.
SECRETS = {
    **{f"MQTT_PASSWORD_{s.mqtt_user.upper()}": f"pw-{s.mqtt_user}" for s in SERVICES},
    "INFLUXDB_ADMIN_PASSWORD": "pw-influx-admin",
    "INFLUX_TOKEN": "token-influx",
    "GRAFANA_ADMIN_PASSWORD": "pw-grafana",
    "WEB_API_TOKEN": "token-web",
}


def env_file(tmp_path: Path, **overrides: str) -> Path:
    """.env.example with the secrets filled in, as a user would make it."""
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        if name in overrides:
            line = f"{name}={overrides.pop(name)}"
        elif name in SECRETS:
            line = f"{name}={SECRETS[name]}"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in overrides.items()]
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


def compose(binary: Path, env: Path, *args: str, profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    flags = [f"--profile={p}" for p in profiles if p]
    cmd = [
        str(binary),
        "--project-directory",
        str(ROOT),
        "-f",
        str(COMPOSE_FILE),
        "--env-file",
        str(env),
        *flags,
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, timeout=60)


def resolved(compose_v2: Path, tmp_path: Path, **overrides: str) -> dict:
    """The whole model, every profile on, variables interpolated (Compose v2 `config --format json`)."""
    result = compose(compose_v2, env_file(tmp_path, **overrides), "config", "--format", "json", profiles=("demo", "ha"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
