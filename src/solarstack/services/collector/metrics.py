"""Services layer: the collector's Prometheus metrics (prefix solarstack_collector_).

points_written_total, write_errors_total{kind}, write_seconds (histogram), lag_seconds
(now - ts of the newest point written) and spool_points (points waiting on disk), on the
registry the health server exposes. Must not write or subscribe.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "solarstack_collector"
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: write_errors_total kinds, created at 0 so a rate() over them works from the start
ERROR_KINDS = ("connection", "timeout", "auth", "not_found", "server", "rejected", "invalid", "dropped")


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry, spool_points: Callable[[], float]) -> None:
        self.registry = registry
        self.points = Counter(f"{PREFIX}_points_written", "Points the sink stored", registry=registry)
        self.errors = Counter(
            f"{PREFIX}_write_errors",
            "Failed writes and lost points by kind (invalid: a state with no point; dropped: spool bound)",
            ["kind"],
            registry=registry,
        )
        for kind in ERROR_KINDS:
            self.errors.labels(kind)
        self.write_seconds = Histogram(
            f"{PREFIX}_write_seconds", "Time one write to the sink took", buckets=WRITE_BUCKETS, registry=registry
        )
        self.newest_ts = 0.0
        lag = Gauge(f"{PREFIX}_lag_seconds", "Now minus the ts of the newest point written", registry=registry)
        lag.set_function(lambda: time.time() - self.newest_ts if self.newest_ts else 0.0)
        spool = Gauge(f"{PREFIX}_spool_points", "Points waiting in the disk spool for the sink", registry=registry)
        spool.set_function(spool_points)

    def written(self, points: int, newest_ts: float, seconds: float) -> None:
        self.points.inc(points)
        self.write_seconds.observe(seconds)
        self.newest_ts = max(self.newest_ts, newest_ts)
