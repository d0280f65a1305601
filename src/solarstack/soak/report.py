"""Soak harness: the report — the verdicts as text, a JSON summary, and a PNG of RSS and faults.

`Report` holds what runner.py measured and analysis.py computed; `render()` is the text
`make soak` prints and saves; `plot()` draws every service's RSS against simulated hours with
the fault moments as labelled vertical lines (matplotlib, the dev extra; without it the PNG
is skipped with a note). Targets: lost 0, doubled 0, recovery within one poll, no counter
decrease, energy within 1 % of the plant, RSS flat.

No processes and no network; it writes only the file it is asked to.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from solarstack.soak.analysis import ANSWER_SLACK, Delivery, Drop, EnergyCheck, Recovery, RssSample, Slope

#: energy agreement target (relative), once the stretches cover this many simulated hours: over
#: less, a few steps of the house load that fall between two polls weigh too much (each is off by
#: up to half a poll of its power), so a short run is held to the loose bound only
ENERGY_TOLERANCE = 0.01
ENERGY_STABLE_HOURS = 6.0
ENERGY_TOLERANCE_SHORT = 0.05
#: RSS slope above which a service is flagged as growing (MB per simulated hour)
RSS_SLOPE_LIMIT = 0.5


class HaCheck(NamedTuple):
    """Home Assistant's Energy dashboard after the run (`--ha`)."""

    sensors: int  # energy sensors HA offers the dashboard
    issues: dict[str, list[str]]  # entity_id -> what HA found wrong ({}: nothing)

    @property
    def ok(self) -> bool:
        return self.sensors > 0 and not self.issues


@dataclass
class Report:
    seed: int
    speed: float
    hours: float
    poll: float
    sink: str
    window: tuple[float, float]  # wall clock
    events: list[tuple[float, str, str]]  # (wall clock, description, kind)
    faults: Counter[str]
    delivery: Delivery
    drained: float
    recoveries: list[Recovery]
    counters_checked: int
    drops: list[Drop]
    energies: list[EnergyCheck]
    slopes: list[Slope]
    rss: list[RssSample] = field(repr=False)
    unexpected: list[str]
    tap_bad: int
    writes: dict[str, float] = field(default_factory=dict)  # service -> bytes written per wall hour
    ours: list[str] = field(default_factory=list)  # solarstack's own services (the registry's)
    memory: tuple[float, float] = (0.0, 0.0)  # our services together: MB when the faults began, peak
    plot_path: Path | None = None
    ha: HaCheck | None = None  # with --ha: Home Assistant's verdict on every energy sensor

    @property
    def worst_recovery(self) -> Recovery | None:
        known = [r for r in self.recoveries if r.seconds is not None]
        never = [r for r in self.recoveries if r.seconds is None]
        if never:
            return never[0]
        return max(known, key=lambda r: r.seconds / r.poll if r.seconds is not None else 0.0, default=None)

    @property
    def recovered_within_poll(self) -> bool:
        return all(r.within_poll for r in self.recoveries)

    def tolerance(self, e: EnergyCheck) -> float:
        stable = e.covered * self.speed / 3600 >= ENERGY_STABLE_HOURS
        return ENERGY_TOLERANCE if stable else ENERGY_TOLERANCE_SHORT

    @property
    def energy_ok(self) -> bool:
        return all(e.error is None or abs(e.error) <= self.tolerance(e) for e in self.energies)

    @property
    def passed(self) -> bool:
        d = self.delivery
        return (
            d.published > 0
            and d.lost == 0
            and d.doubled == 0
            and d.foreign == 0
            and self.recovered_within_poll
            and not self.drops
            and self.energy_ok
            and (self.ha is None or self.ha.ok)
        )

    def summary(self) -> dict[str, Any]:
        d = self.delivery
        worst = self.worst_recovery
        return {
            "seed": self.seed,
            "speed": self.speed,
            "simulated_hours": self.hours,
            "poll_seconds": self.poll,
            "sink": self.sink,
            "wall_seconds": self.window[1] - self.window[0],
            "faults": dict(self.faults),
            "published": d.published,
            "stored": d.stored,
            "lost": d.lost,
            "doubled": d.doubled,
            "foreign_ts": d.foreign,
            "by_device": {
                k: dict(zip(("published", "lost", "doubled", "foreign"), v, strict=True))
                for k, v in d.by_device.items()
            },
            "worst_recovery": None if worst is None else worst._asdict(),
            "recoveries_within_poll": sum(r.within_poll for r in self.recoveries),
            "recoveries": len(self.recoveries),
            "counter_values_checked": self.counters_checked,
            "counter_decreases": [x._asdict() for x in self.drops],
            "energy": [e._asdict() | {"error": e.error} for e in self.energies],
            "rss": [s._asdict() for s in self.slopes],
            "bytes_written_per_hour": self.writes,
            "our_services_mb": {"at_start": self.memory[0], "peak": self.memory[1]},
            "unexpected_exits": self.unexpected,
            "home_assistant": None if self.ha is None else self.ha._asdict(),
            "passed": self.passed,
        }


def _ok(good: bool) -> str:
    return "ok" if good else "FAIL"


def render(r: Report) -> str:
    d = r.delivery
    wall = r.window[1] - r.window[0]
    lines = [
        f"solarstack soak report — seed {r.seed} (make soak SEED={r.seed})",
        f"time: {r.hours:g} simulated hours at {r.speed:g}x ({wall / 60:.1f} min wall), readers poll every"
        f" {r.poll:g} s wall ({r.poll * r.speed:g} s simulated); sink {r.sink}",
        "faults injected: "
        + ", ".join(f"{k} {n}" for k, n in sorted(r.faults.items()))
        + f" ({sum(r.faults.values())})",
        f"states: {d.published} published, {d.stored} points stored; lost {d.lost}, doubled {d.doubled},"
        f" at a foreign ts {d.foreign}  [{_ok(d.lost == 0 and d.doubled == 0 and d.foreign == 0)}]"
        f" (sink complete {r.drained:.0f} s after the window)",
    ]
    for device, (pub, lost, doubled, foreign) in sorted(d.by_device.items()):
        lines.append(f"  {device:<14} {pub:>7} published  lost {lost}  doubled {doubled}  foreign {foreign}")
    lines += [f"  e.g. {e}" for e in d.examples[:6]]
    worst = r.worst_recovery
    n_ok = sum(x.within_poll for x in r.recoveries)
    slack = f"poll + {ANSWER_SLACK:g} s"
    if worst is None:
        lines.append("recovery: no fault cleared")
    else:
        when = "never" if worst.seconds is None else f"{worst.seconds:.2f} s"
        lines.append(
            f"recovery: worst {when} ({worst.device} after {worst.fault}; its poll {worst.poll:g} s);"
            f" {n_ok}/{len(r.recoveries)} device recoveries within one poll ({slack})  [{_ok(r.recovered_within_poll)}]"
        )
        by_kind: dict[str, float] = {}
        for x in r.recoveries:
            took = float("inf") if x.seconds is None else x.seconds
            by_kind[x.kind] = max(by_kind.get(x.kind, 0.0), took)
        lines.append("  worst by fault: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(by_kind.items())))
        late = [x for x in r.recoveries if not x.within_poll]
        lines += [
            f"  late: {x.device} after {x.fault}: {'never' if x.seconds is None else f'{x.seconds:.2f} s'}"
            for x in late[:8]
        ]
    lines.append(
        f"energy counters: {r.counters_checked} values checked, {len(r.drops)} decreases  [{_ok(not r.drops)}]"
    )
    lines += [f"  {x.device}.{x.key} fell {x.before} -> {x.after} at ts {x.ts_ns}" for x in r.drops[:5]]
    for e in r.energies:
        if e.error is None:
            verdict = "too little to compare"
        else:
            bound = r.tolerance(e)
            verdict = f"{e.error * 100:+.2f} % (target {bound:.0%})  [{_ok(abs(e.error) <= bound)}]"
        lines.append(
            f"energy vs plant: {e.device} {e.flow}: reader {e.reader_kwh:.3f} kWh, plant {e.truth_kwh:.3f} kWh"
            f" over {e.stretches} stretches ({e.covered * r.speed / 3600:.1f} simulated h): {verdict}"
        )
    lines.append("RSS (MB) and slope per simulated hour; MB written to disk per wall hour (logs included):")
    for s in r.slopes:
        slope = "n/a" if s.mb_per_sim_hour is None else f"{s.mb_per_sim_hour:+.3f} MB/h"
        flat = s.mb_per_sim_hour is None or s.mb_per_sim_hour <= RSS_SLOPE_LIMIT
        written = r.writes.get(s.service)
        disk = "" if written is None else f"  written {written / 1e6:7.2f} MB/h"
        lines.append(
            f"  {s.service:<18} {s.first_mb:7.1f} -> {s.last_mb:7.1f}  peak {s.peak_mb:7.1f}  slope {slope:>14}"
            f"{disk}{'' if flat else '  [growing]'}"
        )
    if r.ours:
        lines.append(
            f"our services together ({', '.join(r.ours)}): {r.memory[0]:.0f} MB when the faults began,"
            f" {r.memory[1]:.0f} MB at the peak"
        )
    if r.ha is not None:
        lines.append(
            f"Home Assistant: {r.ha.sensors} energy sensors; statistics and Energy dashboard validation"
            f" {'clean' if not r.ha.issues else f'found {len(r.ha.issues)} with issues'}  [{_ok(r.ha.ok)}]"
        )
        lines += [f"  {entity or 'HA'}: {', '.join(issues)}" for entity, issues in sorted(r.ha.issues.items())[:10]]
    if r.unexpected:
        lines.append(f"unexpected exits ({len(r.unexpected)}): " + "; ".join(r.unexpected[:5]))
    if r.tap_bad:
        lines.append(f"state messages without a readable ts: {r.tap_bad}")
    lines.append(f"verdict: {'PASS' if r.passed else 'FAIL'}")
    return "\n".join(lines) + "\n"


def plot(r: Report, path: Path) -> Path | None:
    """RSS of every service against simulated hours, faults as vertical lines; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("soak: matplotlib is not installed (pip install -e '.[dev]'): no PNG", flush=True)
        return None
    t0 = r.window[0]

    def hours(clock: float) -> float:
        return (clock - t0) * r.speed / 3600

    fig, ax = plt.subplots(figsize=(14, 7), dpi=100)
    services = sorted({s.service for s in r.rss})
    lines = plt.get_cmap("tab20")
    for n, service in enumerate(services):
        pts = sorted((s.clock, s.mb) for s in r.rss if s.service == service)
        style = "-" if n < 10 else ":"
        ax.plot(
            [hours(c) for c, _ in pts], [mb for _, mb in pts], style, label=service, linewidth=1.2, color=lines(n % 20)
        )
    kinds = sorted({k for _, _, k in r.events})
    colours = plt.get_cmap("tab20")
    top = max((s.mb for s in r.rss), default=1.0)
    for i, kind in enumerate(kinds):
        for at, label, k in r.events:
            if k != kind:
                continue
            x = hours(at)
            ax.axvline(x, color=colours(i % 20), linestyle="--", linewidth=0.9, alpha=0.7)
            ax.text(x, top * 1.02, label, rotation=90, fontsize=6, va="bottom", ha="center", color=colours(i % 20))
    ax.set_xlabel(f"simulated hours (x{r.speed:g}; 0 = faults begin)")
    ax.set_ylabel("RSS, MB (process group)")
    d = r.delivery
    ax.set_title(
        f"solarstack soak, seed {r.seed}: lost {d.lost}, doubled {d.doubled}; "
        f"{sum(r.faults.values())} faults — {'PASS' if r.passed else 'FAIL'}",
        pad=70,
    )
    ax.set_ylim(0, top * 1.0 + 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
