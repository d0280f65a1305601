""".env.example is the one file users edit: it must list every variable any service reads
(CommonSettings and every `*Settings(CommonSettings)` model found under solarstack.services,
picked up automatically as services land) and every variable docker-compose.yml interpolates
— and nothing else. Each has a one-line comment; a non-empty value is the model's default."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
from pathlib import Path

from compose_model import SECRETS
from pydantic import BaseModel, TypeAdapter

import solarstack.services
from solarstack.core.settings import CommonSettings
from solarstack.services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
# Read by docker compose itself, not interpolated in the file.
COMPOSE_NATIVE = {"COMPOSE_PROJECT_NAME"}


def settings_models() -> list[type[BaseModel]]:
    """CommonSettings and every subclass defined in a module under solarstack.services."""
    for info in pkgutil.walk_packages(solarstack.services.__path__, "solarstack.services."):
        importlib.import_module(info.name)
    found: list[type[BaseModel]] = [CommonSettings]
    todo = list(CommonSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("solarstack.services."):
            found.append(cls)
    return found


def env_example() -> dict[str, tuple[str, str]]:
    """NAME -> (value, the comment line right above it, or of the group it starts)."""
    out: dict[str, tuple[str, str]] = {}
    comment = ""
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("# ") and not line.startswith("# ---"):
            comment = line[2:]
        elif m := re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line):
            assert m.group(1) not in out, f"{m.group(1)} appears twice in .env.example"
            out[m.group(1)] = (m.group(2), comment)
        elif not line.strip():
            comment = ""
    return out


def compose_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()))


def settings_fields() -> dict[str, tuple[type[BaseModel], str]]:
    return {name.upper(): (model, name) for model in settings_models() for name in model.model_fields}


def test_every_settings_field_is_in_env_example() -> None:
    missing = sorted(set(settings_fields()) - set(env_example()))
    assert not missing, f"add to .env.example (with a comment and the default): {missing}"


def test_every_compose_variable_is_in_env_example() -> None:
    missing = sorted(compose_variables() - set(env_example()))
    assert not missing, f"docker-compose.yml reads these; add them to .env.example: {missing}"


def test_env_example_has_nothing_stale() -> None:
    used = set(settings_fields()) | compose_variables() | COMPOSE_NATIVE
    stale = sorted(set(env_example()) - used)
    assert not stale, f"no settings model or docker-compose.yml reads these: {stale}"


def test_every_variable_has_a_comment() -> None:
    uncommented = sorted(name for name, (_, comment) in env_example().items() if not comment)
    assert not uncommented, uncommented


def test_values_are_the_model_defaults() -> None:
    """A non-empty value must equal the default (empty: a secret, a device list, or a None default)."""
    checked = 0
    examples = env_example()
    for name, (model, field) in settings_fields().items():
        value = examples.get(name, ("", ""))[0]
        if not value:
            continue
        info = model.model_fields[field]
        assert TypeAdapter(info.annotation).validate_python(value) == info.default, (
            f"{name}={value!r} in .env.example, default {info.default!r}"
        )
        checked += 1
    assert checked >= len(CommonSettings.model_fields) - 2  # all but MQTT_USERNAME / MQTT_PASSWORD


def test_models_are_found() -> None:
    """The discovery above is not vacuous: it sees the shared model and every service model."""
    models = settings_models()
    assert CommonSettings in models
    services = {p.name for p in Path(solarstack.services.__path__[0]).iterdir() if (p / "__init__.py").exists()}
    for service in services:
        modules = [m for m in models if m.__module__.startswith(f"solarstack.services.{service}.")]
        settings_py = Path(solarstack.services.__path__[0]) / service / "settings.py"
        if settings_py.exists():
            assert modules, f"solarstack.services.{service} has settings.py but no CommonSettings subclass was found"


# Values compose sets on purpose, whatever the model's default: the network, the users, the paths.
# compose sets these on purpose (the collector writes to the stack's InfluxDB with its token)
COMPOSE_FIXED = {
    "MQTT_HOST",
    "MQTT_USERNAME",
    "MQTT_PASSWORD",
    "STATE_DIR",
    "PROMETHEUS_URL",
    "WEB_API_TOKEN",
    "INFLUX_URL",
    "INFLUX_TOKEN",
}


def test_compose_passes_every_field_with_the_model_default(compose_v2: Path, tmp_path: Path) -> None:
    """Each compose service with a settings model gets every field; unset in .env, the model default."""
    env = tmp_path / ".env"
    env.write_text("".join(f"{name}=x\n" for name in SECRETS))
    cmd = [str(compose_v2), "--project-directory", str(ROOT), "--env-file", str(env), "config", "--format", "json"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    compared = 0
    for model in settings_models()[1:]:
        service = model.__module__.split(".")[2]
        service = {s.name: s.compose for s in SERVICES}.get(service, service)  # house -> house-sensor
        if service not in services:
            continue
        environment = services[service]["environment"]
        for field, info in model.model_fields.items():
            name = field.upper()
            assert name in environment, f"docker-compose.yml: {service} does not pass {name}"
            if name in COMPOSE_FIXED or name.endswith("_DEVICES") or info.is_required():
                continue
            value = environment[name]
            parsed = (
                None if value == "" and info.default is None else TypeAdapter(info.annotation).validate_python(value)
            )
            assert parsed == info.default, f"{service}: {name}={value!r} in compose, model default {info.default!r}"
            compared += 1
    assert compared > 0 or not any(m.__module__.split(".")[2] in services for m in settings_models()[1:])
