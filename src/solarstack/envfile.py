"""`solarstack init` / `make env`: write `.env` from `.env.example`, with a fresh random value
for every secret, so the first `docker compose up -d` starts without editing secrets by hand.

Top of the import graph, beside cli.py: deployment tooling that runs before any virtualenv
exists (`make env` runs it with the system python3 and PYTHONPATH=src). So it must import only
the standard library and solarstack.core.errors (itself standard library only); it must not read
the process environment, never overwrite or truncate an existing `.env`, and never print a secret.

Which variables get a value is read from `.env.example`, the one file users edit: an empty
variable whose comment calls it a secret (`# … (secret, required)`) — unless the comment gives
the empty value a meaning (`(secret; empty = no login)`): that one is the user's choice and stays
empty. tests/stack/test_init.py holds this rule to what docker-compose.yml requires
(`${NAME:?…}`) and to the MQTT_PASSWORD_<USER> the broker's entrypoint reads.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from solarstack.core.errors import ConfigError

_VARIABLE = re.compile(r"([A-Z][A-Z0-9_]*)=(.*?)(\r?\n)?\Z", re.DOTALL)
_SECRET = re.compile(r"\(secret\b")
_EMPTY_MEANS = re.compile(r"\bempty\s*=")


def new_secret() -> str:
    """128 random bits as 32 hex digits. Hex, not token_urlsafe: no `$` (compose interpolation),
    no `#`, quote or space (.env and systemd EnvironmentFile parsing), no leading `-`
    (mosquitto_passwd's arguments); InfluxDB's 8-character minimum is met."""
    return secrets.token_hex(16)


class Rendered(NamedTuple):
    text: str
    generated: tuple[str, ...]  # names that got a new random value
    left_empty: tuple[str, ...]  # secrets whose empty value is a documented choice


def render(example: str, make_secret: Callable[[], str] = new_secret) -> Rendered:
    """`.env.example`'s text with each empty secret filled; every other line kept byte for byte.

    A variable's comment is the `# ` line right above it (or above the group it starts), as
    tests/stack/test_env_example.py reads it; a blank line ends a group."""
    out: list[str] = []
    generated: list[str] = []
    left_empty: list[str] = []
    comment = ""
    for line in example.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("# ") and not stripped.startswith("# ---"):
            comment = stripped[2:]
        elif not stripped:
            comment = ""
        elif (m := _VARIABLE.match(line)) and not m.group(2).strip() and _SECRET.search(comment):
            name, newline = m.group(1), m.group(3) or ""
            if _EMPTY_MEANS.search(comment):
                left_empty.append(name)
            else:
                line = f"{name}={make_secret()}{newline}"
                generated.append(name)
        out.append(line)
    return Rendered("".join(out), tuple(generated), tuple(left_empty))


def write_env(directory: Path) -> tuple[Path, Rendered]:
    """Create `directory/.env` (mode 0600) from `directory/.env.example`; ConfigError if `.env`
    exists (in any form: file, symlink, directory) or the example is missing."""
    example = directory / ".env.example"
    target = directory / ".env"
    if os.path.lexists(target):
        raise ConfigError(f"{target} already exists, left unchanged (edit it by hand, or move it away for a new one)")
    try:
        rendered = render(example.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no {example}: run this in the solarstack checkout, beside docker-compose.yml") from None
    # O_EXCL: even a .env created since the check above is never overwritten.
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{target} already exists, left unchanged") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            os.fchmod(fd, 0o600)  # whatever the umask
            f.write(rendered.text)
    except BaseException:
        os.unlink(target)  # never leave a half-written .env that would block the next try
        raise
    return target, rendered


def init(directory: str = ".") -> int:
    """The `solarstack init` command: write `.env`, then say what was done (names only)."""
    target, rendered = write_env(Path(directory))
    print(f"wrote {target} from {target.name}.example (mode 600: only you can read it)")
    print(f"generated random values for {len(rendered.generated)} secrets: {' '.join(rendered.generated)}")
    if rendered.left_empty:
        print(f"left empty, optional (see their comments in {target.name}): {' '.join(rendered.left_empty)}")
    print("the values are only in that file: keep it with your backups (docs/backup.md)")
    print(
        "next: docker compose --profile demo up -d   (simulated devices), or set INVERTER_DEVICES"
        " and BMS_DEVICES in .env, then docker compose up -d"
    )
    return 0
