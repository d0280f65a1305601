"""The shipped Prometheus config and rules pass Prometheus' own checks: `promtool check config`
(with the rules loaded through its rule_files), `promtool check rules`, and `promtool test rules`
over prometheus/tests/*.yml, which must hold, for every alert, a case where it fires and one
where it stays quiet, and a case for every recorded series."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from rule_model import PROMETHEUS, RULE_TESTS, RULES, load_rules

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool missing (apt-get install prometheus)")


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_check_config_loads_the_shipped_rules(tmp_path: Path) -> None:
    """The shipped file as compose mounts it, with its rule_files pointed at the repo's rules
    (in the container they are /etc/prometheus/rules/*.yml): promtool then loads every rule."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    config["rule_files"] = [str(PROMETHEUS / "rules" / "*.yml")]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = promtool("check", "config", copy)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULES:
        assert path.name in result.stdout + result.stderr, f"check config did not load {path.name}"
    plain = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert plain.returncode == 0, plain.stdout + plain.stderr


def test_check_rules() -> None:
    result = promtool("check", "rules", *RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", *RULE_TESTS, cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_fires_and_stays_quiet_in_a_unit_test() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    exprs: set[str] = set()
    tested_files: set[Path] = set()
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        tested_files |= {(path.parent / f).resolve() for f in doc["rule_files"]}
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
            exprs |= {check["expr"] for check in case.get("promql_expr_test", [])}
    assert tested_files == {p.resolve() for p in RULES}, "a rules file without unit tests"
    rules = load_rules()
    alerts = {r.name for r in rules if r.kind == "alert"}
    assert alerts - fires == set(), f"no unit test fires {sorted(alerts - fires)}"
    assert alerts - quiet == set(), f"no unit test where {sorted(alerts - quiet)} stays quiet"
    records = {r.name for r in rules if r.kind == "record"}
    assert records - exprs == set(), f"no unit test of the recorded series {sorted(records - exprs)}"


def test_unit_tests_fail_when_a_threshold_moves(tmp_path: Path) -> None:
    """The unit tests bite: the SOC alert at 10 % instead of 20 % fails them."""
    shutil.copytree(PROMETHEUS / "rules", tmp_path / "rules")
    shutil.copytree(PROMETHEUS / "tests", tmp_path / "tests")
    alerts = tmp_path / "rules" / "alerts.yml"
    text = alerts.read_text()
    assert text.count('_ratio"} < 0.20') == 1
    alerts.write_text(text.replace('_ratio"} < 0.20', '_ratio"} < 0.10'))
    result = promtool("test", "rules", tmp_path / "tests" / "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "alertname: BatterySocLow" in result.stdout + result.stderr
