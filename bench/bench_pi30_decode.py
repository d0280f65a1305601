"""Benchmark: in-process PI30 QPIGS decode, µs per frame (target ≤ 20 µs).

A plain script (no pytest): `python bench/bench_pi30_decode.py [--json]`. Decodes a
recorded QPIGS frame (jblance/mpp-solar's pi30 sample) repeatedly, CRC check included,
and prints the best of several rounds. CPU time of this process (not wall time), so
other load on the machine does not count against the codec.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from solarstack.protocols import pi30

FRAME = b"(000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010\x24\x8c\r"  # noqa: E501 (a recorded frame)
TARGET_US = 20.0


def measure(clock: Callable[[], float], rounds: int = 7, per_round: int = 20000) -> float:
    """Best µs per decode over `rounds` rounds, timed with `clock`."""
    decode = pi30.decode
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        for _ in range(per_round):
            decode("QPIGS", FRAME)
        best = min(best, (clock() - start) / per_round)
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    fields = len(pi30.decode("QPIGS", FRAME))
    micros = measure(time.process_time)
    wall = measure(time.perf_counter)
    if args.json:
        print(
            json.dumps(
                {
                    "pi30_qpigs_decode_us": round(micros, 2),
                    "pi30_qpigs_decode_wall_us": round(wall, 2),
                    "target_us": TARGET_US,
                    "fields": fields,
                }
            )
        )
    else:
        verdict = "OK" if micros <= TARGET_US else "SLOWER THAN TARGET"
        print(
            f"PI30 QPIGS decode: {micros:.2f} µs/frame CPU ({wall:.2f} µs wall, {fields} fields), "
            f"target ≤ {TARGET_US:g} µs "
            f"-> {verdict} (ratio {micros / TARGET_US:.2f} of target)"
        )
    return 0 if micros <= TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
