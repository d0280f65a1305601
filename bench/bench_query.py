"""Benchmark: `solarstack query pi30+serial://<pty> QPIGS --json` vs the mpp-solar CLI, whole process.

Both tools ask the same simulator (`solarstack sim inverter --pty`) for QPIGS over the
same pty, turn about, in one run, so machine load hits both alike. Each run is one
process from spawn to exit (interpreter start, imports, port open, exchange, decode,
JSON out); peak RSS is the child's own ru_maxrss from os.wait4. Every run must exit 0
and print battery_voltage, or the benchmark stops: a fast failure is not a result.

    .venv/bin/python bench/bench_query.py [--runs 15] [--profile]

Targets (issue 2): median wall time at most 1/3 of mpp-solar's, and less peak memory.
mpp-solar 0.16.56 is installed into .cache/bench/mppsolar-venv on first use. It only
recognises port names containing "ttyusb"/"serial", so it is told `--porttype serial`.
With --profile (or when ours misses), `python -X importtime` lists the costliest imports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # bench/ is not a package: the harness sits beside this script

WALL_RATIO_TARGET = 1 / 3


def check(run: harness.Run, who: str) -> None:
    if run.returncode != 0 or "battery_voltage" not in run.stdout:
        raise SystemExit(f"{who} failed (exit {run.returncode}): {(run.stderr or run.stdout).strip()[-300:]}")
    json.loads(run.stdout.strip().splitlines()[-1])  # both print one JSON object; a traceback is not one


def import_profile(url: str, top: int = 14, rounds: int = 5) -> list[tuple[int, str]]:
    """The costliest imports of `solarstack query` as run from its console script.

    Cumulative µs per module, the least over `rounds` runs (machine noise only adds),
    for modules imported at the top level or one level down (shown indented).
    """
    best: dict[str, int] = {}
    for _ in range(rounds):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", harness.solarstack_exe(), "query", url, "QPIGS", "--json"],
            capture_output=True,
            text=True,
            check=False,
            env=harness.child_env(),
        )
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = line.removeprefix("import time:").split("|")
            name = name[1:].rstrip()  # importtime indents two spaces per level after one separator
            if name.startswith("    "):  # two levels down: inside its importer's figure
                continue
            best[name] = min(best.get(name, 1 << 62), int(cumulative))
    return sorted(((us, name) for name, us in best.items()), reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="runs of each tool (median reported)")
    ap.add_argument("--profile", action="store_true", help="also print the costliest imports of ours")
    args = ap.parse_args(argv)

    theirs_bin = harness.mppsolar_venv()
    with harness.processes() as procs:
        pty = harness.start_inverter_sim(procs)
        url = f"pi30+serial://{pty}"
        ours_cmd = [harness.solarstack_exe(), "query", url, "QPIGS", "--json"]
        theirs_cmd = [str(theirs_bin / "mpp-solar"), "-p", pty, "--porttype", "serial", "-P", "PI30"]
        theirs_cmd += ["-c", "QPIGS", "-o", "json"]
        # One unmeasured run each: byte-compiled files and the page cache warm for both.
        check(harness.run_measured(ours_cmd), "solarstack query")
        check(harness.run_measured(theirs_cmd), "mpp-solar")
        ours: list[harness.Run] = []
        theirs: list[harness.Run] = []
        for _ in range(args.runs):  # turn about, so a burst of load lands on both
            ours.append(harness.run_measured(ours_cmd))
            check(ours[-1], "solarstack query")
            theirs.append(harness.run_measured(theirs_cmd))
            check(theirs[-1], "mpp-solar")
        profile = import_profile(url) if args.profile else []
        report(args.runs, ours, theirs, profile or None, url)
    return 0


def report(
    runs: int, ours: list[harness.Run], theirs: list[harness.Run], profile: list[tuple[int, str]] | None, url: str
) -> None:
    o_ms = 1000 * harness.median([r.wall_s for r in ours])
    t_ms = 1000 * harness.median([r.wall_s for r in theirs])
    o_mb = max(r.peak_rss_mb for r in ours)
    t_mb = max(r.peak_rss_mb for r in theirs)
    o_best = 1000 * min(r.wall_s for r in ours)
    t_best = 1000 * min(r.wall_s for r in theirs)
    o_cpu = 1000 * harness.median([r.cpu_s for r in ours])
    t_cpu = 1000 * harness.median([r.cpu_s for r in theirs])
    ratio = o_ms / t_ms
    wall_ok = ratio <= WALL_RATIO_TARGET
    mem_ok = o_mb < t_mb
    print(f"QPIGS --json over a pty, whole process, {runs} runs each, side by side ({harness.load_average()}):")
    for who, ms, best, cpu, mb in (
        ("solarstack query ", o_ms, o_best, o_cpu, o_mb),
        ("mpp-solar 0.16.56", t_ms, t_best, t_cpu, t_mb),
    ):
        print(f"  {who} wall median {ms:6.1f} ms (best {best:6.1f}), CPU {cpu:6.1f} ms, peak RSS {mb:5.1f} MB")
    print(f"  wall ratio ours/theirs {ratio:.3f} (target <= {WALL_RATIO_TARGET:.3f}) -> {harness.verdict(wall_ok)}")
    print(
        f"  CPU ratio ours/theirs {o_cpu / t_cpu:.3f} (load-independent; mpp-solar also sleeps 100 ms of its wall time)"
    )
    print(f"  memory ratio ours/theirs {o_mb / t_mb:.3f} (target < 1) -> {harness.verdict(mem_ok)}")
    if profile is None and not wall_ok:
        profile = import_profile(url)  # the simulator is still up: called inside main's `with`
    if profile:
        print("  costliest imports of `solarstack query` (cumulative, least of 5 runs of python -X importtime):")
        for micros, name in profile:
            print(f"    {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    sys.exit(main())
