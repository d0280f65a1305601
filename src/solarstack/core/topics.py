"""Core layer: every MQTT topic solarstack uses, built and parsed in one place.

    <prefix>/<device>/state                   retained JSON: ts + one key per field
    <prefix>/<device>/availability            online / offline (LWT)
    <prefix>/<device>/catalog                 retained JSON: what the device is and reports
    <prefix>/<device>/set/<setting>           a new value        -> …/set/<setting>/result
    <prefix>/<device>/query                   a read-only query  -> …/query/result
    <prefix>/<device>/refresh                 poll now (payload ignored; rate-limited)
                                              -> …/refresh/result: {ok, polled, error}
    <prefix>/refresh                          every reader polls all its devices now
    <ha>/device/<device>/config               Home Assistant discovery, device-based
    <ha>/<component>/<device>/<object>/config Home Assistant discovery, per entity
    <ha>/status                               Home Assistant's birth / will

Pure string work: no MQTT, no I/O. A service builds one `Topics` from its settings.
"""

from __future__ import annotations

from typing import NamedTuple

#: The device-level topics a consumer may see (`parse` answers with one of these).
KINDS = (
    "state",
    "availability",
    "catalog",
    "set",
    "set_result",
    "query",
    "query_result",
    "refresh",
    "refresh_result",
)


class Parsed(NamedTuple):
    device: str
    kind: str  # one of KINDS
    setting: str | None = None  # for set / set_result


class Topics(NamedTuple):
    prefix: str = "solarstack"
    ha_prefix: str = "homeassistant"

    # -- one device ---------------------------------------------------------------------

    def device(self, device: str) -> str:
        return f"{self.prefix}/{device}"

    def state(self, device: str) -> str:
        return f"{self.prefix}/{device}/state"

    def availability(self, device: str) -> str:
        return f"{self.prefix}/{device}/availability"

    def catalog(self, device: str) -> str:
        return f"{self.prefix}/{device}/catalog"

    def set(self, device: str, setting: str) -> str:
        return f"{self.prefix}/{device}/set/{setting}"

    def set_result(self, device: str, setting: str) -> str:
        return f"{self.prefix}/{device}/set/{setting}/result"

    def query(self, device: str) -> str:
        return f"{self.prefix}/{device}/query"

    def query_result(self, device: str) -> str:
        return f"{self.prefix}/{device}/query/result"

    def refresh(self, device: str | None = None) -> str:
        """One device's refresh topic, or (None) the one every reader answers."""
        return f"{self.prefix}/{device}/refresh" if device else f"{self.prefix}/refresh"

    def refresh_result(self, device: str) -> str:
        return f"{self.prefix}/{device}/refresh/result"

    # -- every device (subscription filters) -----------------------------------------------

    def all(self, kind: str) -> str:
        """A filter over every device: `all("state")` -> `solarstack/+/state`."""
        suffix = {
            "set": "set/+",
            "set_result": "set/+/result",
            "query_result": "query/result",
            "refresh_result": "refresh/result",
        }.get(kind, kind)
        return f"{self.prefix}/+/{suffix}"

    # -- Home Assistant -----------------------------------------------------------------

    def ha_status(self) -> str:
        return f"{self.ha_prefix}/status"

    def ha_device(self, device: str) -> str:
        return f"{self.ha_prefix}/device/{device}/config"

    def ha_entity(self, component: str, device: str, object_id: str) -> str:
        return f"{self.ha_prefix}/{component}/{device}/{object_id}/config"

    # -- parsing ------------------------------------------------------------------------

    def parse(self, topic: str) -> Parsed | None:
        """What a topic under our prefix is, or None for anything else."""
        head = f"{self.prefix}/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) < 2 or not parts[0]:
            return None
        device, rest = parts[0], parts[1:]
        if rest in (["state"], ["availability"], ["catalog"], ["query"], ["refresh"]):
            return Parsed(device, rest[0])
        if rest in (["query", "result"], ["refresh", "result"]):
            return Parsed(device, f"{rest[0]}_result")
        if len(rest) == 2 and rest[0] == "set" and rest[1]:
            return Parsed(device, "set", rest[1])
        if len(rest) == 3 and rest[0] == "set" and rest[2] == "result" and rest[1]:
            return Parsed(device, "set_result", rest[1])
        return None
