"""Every topic built and parsed in one place (core/topics.py)."""

from __future__ import annotations

import paho.mqtt.client as paho
import pytest

from solarstack.core.topics import KINDS, Parsed, Topics

T = Topics("site", "ha")


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        (T.state("inv1"), Parsed("inv1", "state")),
        (T.availability("inv1"), Parsed("inv1", "availability")),
        (T.catalog("inv1"), Parsed("inv1", "catalog")),
        (T.set("inv1", "output_source_priority"), Parsed("inv1", "set", "output_source_priority")),
        (T.set_result("inv1", "output_source_priority"), Parsed("inv1", "set_result", "output_source_priority")),
        (T.query("inv1"), Parsed("inv1", "query")),
        (T.query_result("inv1"), Parsed("inv1", "query_result")),
        (T.refresh("inv1"), Parsed("inv1", "refresh")),
        (T.refresh_result("inv1"), Parsed("inv1", "refresh_result")),
    ],
)
def test_built_topics_parse_back_and_match_their_filter(topic: str, parsed: Parsed) -> None:
    assert T.parse(topic) == parsed
    assert parsed.kind in KINDS
    assert paho.topic_matches_sub(T.all(parsed.kind), topic)


@pytest.mark.parametrize(
    "topic",
    ["other/inv1/state", "site/inv1", "site//state", "site/inv1/set", "site/inv1/set//result", "site/inv1/x/y/z/w"],
)
def test_anything_else_is_not_ours(topic: str) -> None:
    assert T.parse(topic) is None


def test_site_wide_refresh_and_home_assistant_topics() -> None:
    assert T.refresh() == "site/refresh"
    assert T.ha_status() == "ha/status"
    assert T.ha_device("inv1") == "ha/device/inv1/config"
    assert T.ha_entity("sensor", "inv1", "pv_power") == "ha/sensor/inv1/pv_power/config"
