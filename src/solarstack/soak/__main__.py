"""Soak harness: `python -m solarstack.soak` runs runner.py's `main`."""

from __future__ import annotations

import sys

from solarstack.soak.runner import main

sys.exit(main())
