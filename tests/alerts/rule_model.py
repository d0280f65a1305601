"""What the alert tests read from the shipped rules: every rule, its selectors, and the
metric names a real exposition declares.

A plain module (tests/alerts/ is on sys.path when its tests run). `Selector` is one vector
selector of a rule's PromQL: a bare metric name or a `{__name__=~"…"}` regex, with its
other label matchers (the rules pick battery temperatures by `job`). The parser is small on
purpose: it knows the shapes prometheus/rules/*.yml use, and `test_rule_names.py` checks that
it finds a selector in every rule, so a shape it misses fails there instead of passing unseen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
ALERTMANAGER = ROOT / "alertmanager"

#: The collector's metrics as the shared contract of issue 11 names them (engineer A builds
#: the collector; its histogram adds _bucket, _count, _sum).
COLLECTOR_METRICS = {
    "solarstack_collector_points_written_total",
    "solarstack_collector_write_errors_total",
    *(f"solarstack_collector_write_seconds{s}" for s in ("_bucket", "_count", "_sum")),
    "solarstack_collector_lag_seconds",
    "solarstack_collector_spool_points",
}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^{}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# a bare metric name: ours, or Prometheus' own `up`; never a function (followed by "(")
_BARE = re.compile(r"\b(solarstack_\w+|up)\b(?!\s*\()")


@dataclass(frozen=True)
class Selector:
    """One vector selector: `name` (a bare name) or `name_regex`, plus the other matchers."""

    name: str | None = None
    name_regex: str | None = None
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (op, value)

    def matches_name(self, name: str) -> bool:
        if self.name is not None:
            return name == self.name
        assert self.name_regex is not None
        return re.fullmatch(self.name_regex, name) is not None

    def alternatives(self) -> list[str]:
        """The top-level alternatives of a `prefix_(a|b|c)_suffix` name regex, expanded to
        whole patterns (`prefix_a_suffix`, …); a bare name is its own one alternative."""
        if self.name is not None:
            return [self.name]
        assert self.name_regex is not None
        m = re.fullmatch(r"([\w]*)\(([^()]*(?:\([^()]*\)[^()]*)*)\)([\w]*)", self.name_regex)
        if m is None:
            return [self.name_regex]
        prefix, body, suffix = m.groups()
        parts, depth, start = [], 0, 0
        for i, ch in enumerate(body):
            depth += ch == "("
            depth -= ch == ")"
            if ch == "|" and depth == 0:
                parts.append(body[start:i])
                start = i + 1
        parts.append(body[start:])
        return [f"{prefix}{p}{suffix}" for p in parts]

    def describe(self) -> str:
        return self.name or f'{{__name__=~"{self.name_regex}"}}'


@dataclass(frozen=True)
class Rule:
    group: str
    name: str  # the alert or the recorded series
    kind: str  # "alert" or "record"
    expr: str
    labels: dict[str, str]
    body: dict[str, Any]

    def selectors(self) -> list[Selector]:
        found: list[Selector] = []
        for name, inner in _BRACES.findall(self.expr):
            matchers = {k: (op, v) for k, op, v in _MATCHER.findall(inner)}
            regex = matchers.pop("__name__", None)
            if name:
                found.append(Selector(name=name, labels=matchers))
            elif regex is not None:
                op, value = regex
                exact = op == "="
                found.append(
                    Selector(name=value if exact else None, name_regex=None if exact else value, labels=matchers)
                )
        # bare names: with selectors and strings (label_replace's regexes) taken out first
        rest = _BRACES.sub(" ", self.expr)
        rest = _STRING.sub(" ", rest)
        rest = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", rest)
        found += [Selector(name=n) for n in _BARE.findall(rest)]
        return found


def load_rules(paths: list[Path] = RULES) -> list[Rule]:
    rules: list[Rule] = []
    for path in paths:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for r in group["rules"]:
                kind = "alert" if "alert" in r else "record"
                rules.append(Rule(group["name"], r[kind], kind, r["expr"], r.get("labels", {}), r))
    return rules


def exposition_names(text: str) -> set[str]:
    """Every series name an exposition declares (its `# TYPE` families, with a counter's
    `_total` and a histogram's `_bucket`/`_count`/`_sum`) or has samples of. A labelled
    counter with no child yet (no error so far) is declared all the same."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "counter" and not name.endswith("_total"):
                names.add(name + "_total")
            if kind == "histogram":
                names.update(name + s for s in ("_bucket", "_count", "_sum"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names
