# solarstack — the two commands a newcomer needs: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: help install deps ha test lint bench demo soak env dashboards images images-multiarch clean

help:
	@echo "make demo   run the whole stack locally with simulated devices (no Docker)"
	@echo "make test   run the test suite (installs what it needs)"
	@echo "make bench  print benchmark figures and ratios"
	@echo "make soak [SEED=N HOURS=24 SPEED=30 HA=venv]  a faulted simulated day, report in artifacts/soak/"
	@echo "make lint   ruff + mypy"
	@echo "make env    write .env for docker compose, every secret random (never overwrites one)"
	@echo "make dashboards  regenerate grafana/dashboards/*.json from grafana/build.py"
	@echo "make images [ARCH=arm64]  build every image with podman (make images-multiarch: amd64 + arm64, one tag)"

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

deps:
	@scripts/system-deps.sh

# Home Assistant 2024.1 in its own cached venv: the discovery tests validate our payloads
# with HA's own schemas (tests/discovery/install_ha.sh; 2025.4 is built by CI on demand).
ha:
	@tests/discovery/install_ha.sh 2024.1

test: deps install ha lint
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check src tests bench grafana
	$(VENV)/bin/ruff format --check src tests bench grafana
	$(VENV)/bin/mypy src/solarstack

bench: deps install
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

# The whole simulated stack through a faulted day, sped up (docs/soak.md): prints the seed and the
# report, saves it with a plot under artifacts/soak/; `make soak SEED=…` repeats a fault schedule;
# `HA=<venv>` attaches a real Home Assistant (tests/discovery/install_ha.sh 2025.4 builds one).
soak: deps install
	$(PY) -m solarstack.soak $(if $(SEED),--seed $(SEED)) $(if $(HOURS),--hours $(HOURS)) $(if $(SPEED),--speed $(SPEED)) $(if $(POLL),--poll $(POLL)) $(if $(HA),--ha $(HA))

# `make demo UNITS=3`: a parallel inverter system of three units
demo: deps install
	$(VENV)/bin/solarstack dev $(if $(UNITS),--units $(UNITS))

# .env from .env.example with a fresh random value for every secret (`solarstack init`).
# Only python3 is needed, no virtualenv: the generator uses the standard library alone.
env:
	@PYTHONPATH=src python3 -m solarstack.cli init

# Grafana dashboards are code: edit grafana/build.py, then regenerate (tests compare the JSON).
dashboards: install
	$(PY) grafana/build.py

# Every image with podman (scripts/build_images.py, docs/install-pi.md): this machine's arch, or
# ARCH=arm64 for a Raspberry Pi (QEMU emulation); images-multiarch builds both and one manifest per
# image. SOLARSTACK_REGISTRY / SOLARSTACK_VERSION name them; PUSH=1 pushes the manifests.
images: deps
	python3 scripts/build_images.py $(if $(ARCH),--arch $(ARCH)) $(if $(PUSH),--push)

images-multiarch: deps
	python3 scripts/build_images.py --arch amd64,arm64 $(if $(PUSH),--push)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .state artifacts
