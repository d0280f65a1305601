"""Soak harness (top layer, like dev.py): the whole simulated stack through a faulted, sped-up day.

`make soak` / `python -m solarstack.soak` (runner.py) runs every simulator and service of the
registry, injects the seeded fault schedule (schedule.py), measures from the outside (probes.py),
judges (analysis.py) and reports (report.py); docs/soak.md explains how to read the report.
Nothing in solarstack imports this package, and it imports no service code.
"""
