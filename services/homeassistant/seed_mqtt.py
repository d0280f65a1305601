"""Profile `ha`: pre-configure Home Assistant's MQTT integration to use the stack's broker.

Run by the homeassistant container before Home Assistant itself, with the image's own
Python (stdlib only):  python3 seed_mqtt.py CONFIG_DIR HOST PORT  (password from the
environment, MQTT_PASSWORD_HOMEASSISTANT; user `homeassistant`).

MQTT can no longer be configured in configuration.yaml, only as a config entry, so this
writes the entry the UI flow would write, in the oldest storage format (version 1.1) that
Home Assistant migrates forward on load. It must NOT touch an existing installation: if any
MQTT entry exists it does nothing, and other entries are kept as they are.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

STORAGE_KEY = "core.config_entries"


def mqtt_entry(host: str, port: int, password: str) -> dict[str, object]:
    return {
        "entry_id": uuid.uuid4().hex,
        "version": 1,
        "minor_version": 1,
        "domain": "mqtt",
        "title": host,
        "data": {"broker": host, "port": port, "username": "homeassistant", "password": password, "discovery": True},
        "options": {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "unique_id": None,
        "disabled_by": None,
    }


def seed(config_dir: Path, host: str, port: int, password: str) -> bool:
    """Add the MQTT entry unless one exists; True when it was added."""
    path = config_dir / ".storage" / STORAGE_KEY
    if path.exists():
        store = json.loads(path.read_text())
    else:
        store = {"version": 1, "minor_version": 1, "key": STORAGE_KEY, "data": {"entries": []}}
    entries = store["data"]["entries"]
    if any(entry.get("domain") == "mqtt" for entry in entries):
        return False
    entries.append(mqtt_entry(host, port, password))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".solarstack-tmp")
    tmp.write_text(json.dumps(store, indent=2))
    os.chmod(tmp, 0o600)  # it holds the broker password, like Home Assistant's own file
    tmp.replace(path)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: seed_mqtt.py CONFIG_DIR HOST PORT", file=sys.stderr)
        return 2
    password = os.environ.get("MQTT_PASSWORD_HOMEASSISTANT", "")
    if not password:
        print("seed_mqtt: set MQTT_PASSWORD_HOMEASSISTANT in .env for the ha profile", file=sys.stderr)
        return 1
    added = seed(Path(argv[0]), argv[1], int(argv[2]), password)
    print(f"seed_mqtt: {'added the MQTT integration' if added else 'MQTT integration already configured'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
