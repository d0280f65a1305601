"""Services layer: device id -> device kind, from the retained catalogues, kept in STATE_DIR.

The measurement of a device's points is its kind (`inverter`, `battery`, …), which only its
catalogue says. After a restart the broker hands over the queued states of our persistent
session before the retained catalogues, so the last known kinds are kept in a small JSON file
(written only when a kind changes — rarely, SD cards wear out).

Used from paho's thread only. Must not know about points or the sink.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class DeviceKinds:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._kinds: dict[str, str] = {}
        try:
            raw = json.loads(path.read_text())
            self._kinds = {str(k): str(v) for k, v in raw.items() if v} if isinstance(raw, dict) else {}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s (%s): kinds come from the catalogues again", path, exc)

    def get(self, device: str) -> str | None:
        return self._kinds.get(device)

    def set(self, device: str, kind: str) -> bool:
        """Remember `device`'s kind; True if it is new or changed."""
        if self._kinds.get(device) == kind:
            return False
        self._kinds[device] = kind
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._kinds, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot keep device kinds in %s (%s)", self.path, exc)
        return True
