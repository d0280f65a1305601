"""The shipped dashboards are the generator's output, name only provisioned data sources and
keep their uids (bookmarks and links to them survive a regeneration).

grafana/build.py makes grafana/dashboards/*.json; nobody edits the JSON by hand. Whether each
query returns data: tests/grafana/test_dashboard_queries.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from grafana_support import DASHBOARDS, PROVISIONING, ROOT, dashboards, iter_targets

UIDS = {
    "solarstack-overview",
    "solarstack-inverter",
    "solarstack-battery",
    "solarstack-house-weather",
    "solarstack-health",
    "solarstack-energy-history",
}


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_build", ROOT / "grafana" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_dashboards_are_what_the_generator_makes(build: ModuleType) -> None:
    made = {name: build.render(board) for name, board in build.build().items()}
    committed = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert set(committed) == set(made), "run python grafana/build.py: the dashboard files differ from the generator's"
    for name, text in made.items():
        assert committed[name] == text, (
            f"grafana/dashboards/{name} was edited by hand or is stale: run python grafana/build.py"
        )


def test_check_mode_finds_a_hand_edited_dashboard(build: ModuleType, tmp_path: Path) -> None:
    assert build.main(["--out", str(tmp_path)]) == 0
    assert build.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / "overview.json"
    edited.write_text(edited.read_text().replace('"Power flow"', '"Power flow (mine)"'))
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    (tmp_path / "stray.json").write_text("{}")
    build.main(["--out", str(tmp_path)])
    assert not (tmp_path / "stray.json").exists()
    assert build.main(["--check", "--out", str(tmp_path)]) == 0


def test_the_generator_knows_the_fields_of_every_kind_a_reader_serves(build: ModuleType) -> None:
    """A new device kind (a DTU, a microinverter) must get its tables in grafana/build.py
    `kind_fields()`, or its readings would never reach a dashboard."""
    from solarstack.devices.registry import FAMILIES

    served = set(build.kind_jobs())
    made = {kind for family in FAMILIES.values() for kind in family.kinds}
    missing = sorted((made & served) - set(build.kind_fields()))
    assert not missing, f"grafana/build.py kind_fields() has no tables for {missing}"


def test_dashboards_keep_their_uids_and_unique_ids() -> None:
    boards = dashboards()
    assert {b["uid"] for b in boards.values()} == UIDS
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), f"{name} / {panel['title']}"
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, f"{name} / {panel['title']} leaves the grid"


def _provisioned() -> dict[str, dict[str, object]]:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "solarstack.yml").read_text())
    return {d["uid"]: d for d in doc["datasources"]}


def test_every_datasource_a_panel_names_is_provisioned() -> None:
    sources = _provisioned()
    named = 0
    for name, board in dashboards().items():
        for panel, target in iter_targets(board):
            for ref in (panel["datasource"], target["datasource"]):
                where = f"{name} / {panel['title']}"
                assert ref["uid"] in sources, f"{where} names data source {ref['uid']!r}, not provisioned"
                assert sources[ref["uid"]]["type"] == ref["type"], where
                named += 1
    assert named and {"solarstack-prometheus", "solarstack-influxdb"} <= set(sources)


def test_influxdb_source_speaks_influxql_with_credentials_from_env() -> None:
    """InfluxQL against the compose InfluxDB 2.x: database = bucket (its virtual DBRP mapping),
    the token in an `Authorization: Token …` header; nothing secret in the file."""
    influx = _provisioned()["solarstack-influxdb"]
    data, secure = influx["jsonData"], influx["secureJsonData"]
    assert isinstance(data, dict) and isinstance(secure, dict)
    assert data["version"] == "InfluxQL"
    assert data["dbName"] == "$INFLUX_BUCKET"
    assert data["httpHeaderName1"] == "Authorization"
    assert secure["httpHeaderValue1"] == "Token $INFLUX_TOKEN"
    energy = dashboards()["energy-history.json"]
    assert all(t["datasource"]["uid"] == "solarstack-influxdb" for _, t in iter_targets(energy))


def test_dashboard_provider_loads_the_generated_files() -> None:
    doc = yaml.safe_load((PROVISIONING / "dashboards" / "solarstack.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    # compose mounts grafana/dashboards exactly there (read-only)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(re.fullmatch(rf"\./grafana/dashboards:{re.escape(path)}(:ro)?", str(m)) for m in mounts), mounts
    assert any(str(m).startswith("./grafana/provisioning/dashboards:") for m in mounts), mounts


def test_every_dashboard_is_valid_grafana_json() -> None:
    for path in DASHBOARDS.glob("*.json"):
        board = json.loads(path.read_text())
        assert board["schemaVersion"] >= 36 and board["panels"], path.name
        for panel in board["panels"]:
            assert panel["type"] in {"timeseries", "stat", "bargauge", "state-timeline", "heatmap"}, panel["type"]
