"""`solarstack init` / `make env` (issue 9, item 7): the first `docker compose up -d` starts
without editing a secret by hand.

The real command runs in a temp checkout (the repo's .env.example and docker-compose.yml copied
there); compose v2 `config` (no engine needed) then finds the `.env` it wrote exactly as
`docker compose up` would; the SHIPPED broker entrypoint makes an account from each generated
MQTT password and a real client logs in with it. `make env` runs with a python3 that has no
site-packages at all, as on a fresh Pi."""

from __future__ import annotations

import getpass
import json
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from solarstack.dev import mosquitto_config
from solarstack.envfile import render
from solarstack.services.registry import SERVICES, readers
from support import free_port

ROOT = Path(__file__).resolve().parents[2]
SOLARSTACK = Path(sys.executable).with_name("solarstack")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # no secret may come from the caller's environment
HEX128 = re.compile(r"[0-9a-f]{32}")


def checkout(tmp_path: Path) -> Path:
    """What a fresh clone has for compose: the compose file and .env.example, no .env."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in (".env.example", "docker-compose.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def solarstack_init(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SOLARSTACK), "init"], cwd=directory, capture_output=True, text=True, env=CLEAN_ENV, timeout=30
    )


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"[A-Z][A-Z0-9_]*=", line))


@pytest.fixture
def initialised(tmp_path: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    directory = checkout(tmp_path)
    result = solarstack_init(directory)
    assert result.returncode == 0, result.stderr
    return directory, result


def test_init_fills_every_secret_and_copies_every_other_line(
    initialised: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, result = initialised
    env_path = directory / ".env"
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    example_lines = (ROOT / ".env.example").read_text().splitlines(keepends=True)
    env_lines = env_path.read_text().splitlines(keepends=True)
    assert len(env_lines) == len(example_lines)
    generated = {}
    for old, new in zip(example_lines, env_lines, strict=True):
        if old == new:
            continue
        name, value = new.rstrip("\n").split("=", 1)
        assert old == f"{name}=\n", f"only empty secrets change, not {old!r}"
        assert HEX128.fullmatch(value), f"{name}: 128 random bits as hex"
        generated[name] = value
    assert len(set(generated.values())) == len(generated), "every secret is its own"
    assert "WEB_PASSWORD" not in generated and "WEB_SECRET_KEY" not in generated  # `empty = …`: a choice
    # It says what it did — every name — and never a value.
    assert all(name in result.stdout for name in generated)
    assert "WEB_PASSWORD" in result.stdout  # named as left empty on purpose
    assert not any(value in result.stdout + result.stderr for value in generated.values())
    # A second checkout gets other values.
    again = checkout(directory / "again")
    assert solarstack_init(again).returncode == 0
    other = read_env(again / ".env")
    assert all(other[name] != value for name, value in generated.items())


def test_init_never_overwrites_an_existing_env(tmp_path: Path) -> None:
    directory = checkout(tmp_path)
    mine = directory / ".env"
    mine.write_text("MQTT_PASSWORD_INVERTER=mine\n")
    mine.chmod(0o644)
    result = solarstack_init(directory)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and ".env already exists" in result.stderr, result.stderr
    assert mine.read_text() == "MQTT_PASSWORD_INVERTER=mine\n" and stat.S_IMODE(mine.stat().st_mode) == 0o644
    # A dangling symlink counts too: nothing is created where it points.
    mine.unlink()
    mine.symlink_to(directory / "elsewhere")
    assert solarstack_init(directory).returncode == 2
    assert not (directory / "elsewhere").exists()


def test_init_outside_a_checkout_says_where_to_run_it(tmp_path: Path) -> None:
    result = solarstack_init(tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no .env.example" in result.stderr, result.stderr
    assert not (tmp_path / ".env").exists()


def test_the_secrets_generated_are_all_that_compose_and_the_broker_need() -> None:
    """The rule reads markers in .env.example; hold it to the files that actually refuse to start."""
    example = (ROOT / ".env.example").read_text()
    generated = set(render(example).generated)
    compose_required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", (ROOT / "docker-compose.yml").read_text()))
    assert compose_required, "docker-compose.yml requires no secret? then this test checks nothing"
    assert compose_required <= generated, f"compose needs these: {sorted(compose_required - generated)}"
    # Every broker user .env.example has a password line for (the entrypoint disables a user without one).
    users = set(re.findall(r"^user (\w+)$", (ROOT / "mosquitto" / "acl.template").read_text(), re.M))
    users |= {s.mqtt_user for s in readers()}  # the entrypoint's reader users
    listed = {f"MQTT_PASSWORD_{u.upper()}" for u in users} & set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert listed and listed <= generated, sorted(listed - generated)


def test_the_marker_rule_keeps_every_other_byte() -> None:
    """Generated: an empty variable whose comment says `(secret`, unless it says what empty means."""
    example = (
        "# Token (secret, required)\r\nA_TOKEN=\r\n"
        "# Login password (secret; empty = no login)\nB_PASSWORD=\n"
        "# Key (secret, required)\nC_KEY=already-set\n"
        "# Port\nD_PORT=\n"
        "\nE_UNCOMMENTED=\n"
        "# Last line without a newline (secret)\nF_SECRET="
    )
    rendered = render(example, make_secret=lambda: "s3cret")
    assert rendered.generated == ("A_TOKEN", "F_SECRET") and rendered.left_empty == ("B_PASSWORD",)
    expected = example.replace("A_TOKEN=\r\n", "A_TOKEN=s3cret\r\n").replace("F_SECRET=", "F_SECRET=s3cret")
    assert rendered.text == expected


def compose_config(binary: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    """`docker compose config` as a user runs it in the checkout: .env is found, not passed."""
    cmd = [str(binary), "--profile", "demo", "--profile", "ha", "config", "--format", "json"]
    return subprocess.run(cmd, cwd=directory, capture_output=True, text=True, env=CLEAN_ENV, timeout=60)


def test_compose_starts_with_the_generated_env_and_not_without(compose_v2: Path, tmp_path: Path) -> None:
    directory = checkout(tmp_path)
    missing = compose_config(compose_v2, directory)
    assert missing.returncode != 0 and "in .env" in missing.stderr, missing.stderr
    # The old first step, `cp .env.example .env`, is not enough either: `:?` refuses empty values.
    shutil.copy(directory / ".env.example", directory / ".env")
    copied = compose_config(compose_v2, directory)
    assert copied.returncode != 0 and "in .env" in copied.stderr, copied.stderr
    (directory / ".env").unlink()

    assert solarstack_init(directory).returncode == 0
    result = compose_config(compose_v2, directory)
    assert result.returncode == 0, result.stderr
    env = read_env(directory / ".env")
    services = json.loads(result.stdout)["services"]
    # Each value reaches its service unchanged by interpolation.
    mosquitto = services["mosquitto"]["environment"]
    for name in [n for n in env if n.startswith("MQTT_PASSWORD_")]:
        assert mosquitto[name] == env[name] != "", name
    assert services["inverter"]["environment"]["MQTT_PASSWORD"] == env["MQTT_PASSWORD_INVERTER"]
    assert services["web"]["environment"]["WEB_API_TOKEN"] == env["WEB_API_TOKEN"]
    assert services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == env["INFLUX_TOKEN"]
    assert services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_PASSWORD"] == env["INFLUXDB_ADMIN_PASSWORD"]
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == env["GRAFANA_ADMIN_PASSWORD"]
    assert services["homeassistant"]["environment"]["MQTT_PASSWORD_HOMEASSISTANT"] == env["MQTT_PASSWORD_HOMEASSISTANT"]


def test_compose_v1_starts_with_the_generated_env_and_not_without(compose_v1: Path, tmp_path: Path) -> None:
    """The older, Python docker-compose (still on some Pis) reads `.env` the same way."""
    directory = checkout(tmp_path)
    cmd = [str(compose_v1), "--profile", "demo", "--profile", "ha", "config", "-q"]

    def config() -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=directory, capture_output=True, text=True, env=CLEAN_ENV, timeout=60)

    missing = config()
    assert missing.returncode != 0 and "in .env" in missing.stderr, missing.stderr
    assert solarstack_init(directory).returncode == 0
    result = config()
    assert result.returncode == 0, result.stderr


def test_the_shipped_broker_takes_the_generated_passwords(
    initialised: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
    wait_for: Callable[..., object],
) -> None:
    directory, _ = initialised
    passwords = {k: v for k, v in read_env(directory / ".env").items() if k.startswith("MQTT_PASSWORD_") and v}
    users = {k.removeprefix("MQTT_PASSWORD_").lower() for k in passwords}
    assert users == {s.mqtt_user for s in SERVICES} | {"homeassistant"}, users
    auth = tmp_path_factory.mktemp("init-broker")
    port = free_port()
    conf = auth / "mosquitto.conf"
    shipped = (ROOT / "mosquitto" / "mosquitto.conf").read_text()
    conf.write_text(mosquitto_config(shipped, port=port, host="127.0.0.1", auth_dir=auth, user=getpass.getuser()))
    env = {**CLEAN_ENV, "MOSQUITTO_CONF": str(conf), "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto" / "acl.template")}
    env |= passwords
    log_path = auth / "broker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["sh", str(ROOT / "mosquitto" / "entrypoint.sh"), MOSQUITTO, "-c", str(conf)],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:

        def publish(user: str, password: str) -> subprocess.CompletedProcess[str]:
            cmd = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-u", user, "-P", password]
            cmd += ["-t", "solarstack/init-test", "-m", "x"]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10)

        def up() -> bool:
            assert proc.poll() is None, log_path.read_text()
            return publish("web", passwords["MQTT_PASSWORD_WEB"]).returncode == 0

        wait_for(up, 10, interval=0.05, what="the shipped broker taking the web user's login")
        for name, password in passwords.items():
            user = name.removeprefix("MQTT_PASSWORD_").lower()
            result = publish(user, password)
            assert result.returncode == 0, f"{user}: {result.stderr}"
        refused = publish("web", "0" * 32)  # the login is really checked
        assert refused.returncode != 0 and "not authori" in refused.stderr.lower(), refused.stderr
        assert not any(p in log_path.read_text() for p in passwords.values()), "the entrypoint printed a password"
    finally:
        proc.terminate()
        proc.wait(5)


def test_make_env_needs_only_python3(tmp_path: Path) -> None:
    """`make env` in a checkout, with a python3 that has no site-packages (what a fresh Pi has)."""
    directory = checkout(tmp_path / "checkout")
    shutil.copy(ROOT / "Makefile", directory / "Makefile")
    (directory / "src").symlink_to(ROOT / "src")
    bare = tmp_path / "bin"
    bare.mkdir()
    python3 = bare / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')  # -S: no site-packages, not even the venv's
    python3.chmod(0o755)
    env = {"PATH": f"{bare}:/usr/bin:/bin"}
    result = subprocess.run(["make", "env"], cwd=directory, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MQTT_PASSWORD_INVERTER" in result.stdout
    assert HEX128.fullmatch(read_env(directory / ".env")["MQTT_PASSWORD_INVERTER"])
    again = subprocess.run(["make", "env"], cwd=directory, capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode != 0 and ".env already exists" in again.stderr
