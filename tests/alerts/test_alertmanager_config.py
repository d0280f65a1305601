"""alertmanager/alertmanager.yml, as alertmanager/entrypoint.sh renders it from the environment,
passes `amtool check-config` with no receiver, with every receiver, and with any one of them;
secrets land in it verbatim whatever characters they hold; severity picks the route; a half
configured email receiver is refused with one line."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rule_model import ALERTMANAGER

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
pytestmark = pytest.mark.skipif(
    not Path(AMTOOL).exists(), reason="amtool missing (apt-get install prometheus-alertmanager)"
)

EMAIL = {
    "ALERT_EMAIL_TO": "me@example.org",
    "ALERT_SMTP_SMARTHOST": "smtp.example.org:587",
    "ALERT_SMTP_FROM": "solar@example.org",
    "ALERT_SMTP_USERNAME": "solar",
    # every character the renderer must escape: sed's & | \ and YAML's '
    "ALERT_SMTP_PASSWORD": "p&ss|wo'rd\\1 $HOME",
}
WEBHOOK = {"ALERT_WEBHOOK_URL": "https://hooks.example.org/solar?key=a&b=c"}
NTFY = {"ALERT_NTFY_URL": "https://ntfy.sh/solarstack-test", "ALERT_NTFY_TOKEN": "tk_0123456789"}


def render(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the shipped entrypoint with `true` as the binary: it renders and exits."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ALERT")}
    base.update(
        ALERTMANAGER_TEMPLATE=str(ALERTMANAGER / "alertmanager.yml"),
        ALERTMANAGER_CONFIG=str(tmp_path / "alertmanager.yml"),
        ALERTMANAGER_BIN="true",
        **env,
    )
    return subprocess.run(["sh", str(ALERTMANAGER / "entrypoint.sh")], env=base, capture_output=True, text=True)


def rendered(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    result = render(tmp_path, env)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "alertmanager.yml"
    check = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    # every ${ALERT_...} left is in a comment: dropped with its block, or filled in
    assert not [line for line in path.read_text().splitlines() if "${" in line.split("#", 1)[0]]
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def receivers(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in doc["receivers"]}


def test_nothing_configured_is_valid_and_sends_nowhere(tmp_path: Path) -> None:
    doc = rendered(tmp_path, {})
    for receiver in receivers(doc).values():
        assert not receiver.get("email_configs") and not receiver.get("webhook_configs"), receiver
    assert "smtp_smarthost" not in (doc.get("global") or {})


def test_every_receiver_filled_in(tmp_path: Path) -> None:
    doc = rendered(tmp_path, {**EMAIL, **WEBHOOK, **NTFY})
    assert doc["global"]["smtp_smarthost"] == EMAIL["ALERT_SMTP_SMARTHOST"]
    assert doc["global"]["smtp_auth_password"] == EMAIL["ALERT_SMTP_PASSWORD"]
    assert set(receivers(doc)) == {"critical", "warning"}
    for receiver in receivers(doc).values():
        assert [e["to"] for e in receiver["email_configs"]] == [EMAIL["ALERT_EMAIL_TO"]]
        hooks = receiver["webhook_configs"]
        assert [h["url"] for h in hooks] == [WEBHOOK["ALERT_WEBHOOK_URL"], NTFY["ALERT_NTFY_URL"]]
        assert hooks[1]["http_config"]["authorization"]["credentials"] == NTFY["ALERT_NTFY_TOKEN"]
        assert all(h["send_resolved"] for h in hooks) and receiver["email_configs"][0]["send_resolved"]
    # the rendered file may hold the SMTP password: only its owner reads it
    assert stat.S_IMODE((tmp_path / "alertmanager.yml").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "env", [WEBHOOK, {"ALERT_NTFY_URL": NTFY["ALERT_NTFY_URL"]}, EMAIL], ids=["webhook", "ntfy", "email"]
)
def test_one_receiver_alone(tmp_path: Path, env: dict[str, str]) -> None:
    doc = rendered(tmp_path, env)
    for receiver in receivers(doc).values():
        hooks = receiver.get("webhook_configs") or []
        assert [h["url"] for h in hooks] == [v for k, v in env.items() if k.endswith("_URL")]
        assert all("http_config" not in h for h in hooks)  # no token given
        assert bool(receiver.get("email_configs")) == ("ALERT_EMAIL_TO" in env)


def test_email_without_a_server_is_refused_in_one_line(tmp_path: Path) -> None:
    result = render(tmp_path, {"ALERT_EMAIL_TO": "me@example.org"})
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "ALERT_SMTP_SMARTHOST" in result.stderr


def test_severity_picks_the_route(tmp_path: Path) -> None:
    rendered(tmp_path, WEBHOOK)
    config = f"--config.file={tmp_path / 'alertmanager.yml'}"

    def route(*labels: str) -> str:
        out = subprocess.run([AMTOOL, "config", "routes", "test", config, *labels], capture_output=True, text=True)
        return out.stdout.strip()

    assert route("severity=critical", "alertname=DeviceOffline") == "critical"
    assert route("severity=warning", "alertname=BatterySocLow") == "warning"
    assert route("alertname=Unlabelled") == "warning"
