#!/usr/bin/env bash
# Install Home Assistant 2024.1.6 into its own cached venv, for the discovery schema tests.
#
# Home Assistant is not a project dependency: it pins hundreds of packages that clash with
# ours, so it lives in a venv of its own that the tests call as a subprocess. 2024.1 is the
# newest line that runs on Python 3.11. The extra pins are the packages HA would otherwise
# pip-install at start-up (we run it with --skip-pip, offline).
#
# Usage: tests/discovery/install_ha.sh [VENV_DIR]   (default: $SOLARSTACK_HA_VENV or
#        /var/cache/solarstack-test/ha-venv). Idempotent: a finished venv is left alone.
set -euo pipefail

venv="${1:-${SOLARSTACK_HA_VENV:-/var/cache/solarstack-test/ha-venv}}"
python="${SOLARSTACK_HA_PYTHON:-python3.11}"
stamp="$venv/.solarstack-ha-2024.1.6"

if [[ -f "$stamp" ]]; then
    echo "Home Assistant venv ready: $venv"
    exit 0
fi

rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
# (pip warns once per package about index paths that do not exist on some machines; noise)
"$venv/bin/pip" install --quiet \
    homeassistant==2024.1.6 \
    paho-mqtt==1.6.1 janus==1.0.0 Pillow==10.1.0 psutil-home-assistant==0.0.1 \
    SQLAlchemy==2.0.23 fnv-hash-fast==0.5.0 \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
# Prove the schema import path works before declaring the venv ready.
"$venv/bin/python" -c 'import homeassistant.components.persistent_notification, homeassistant.components.mqtt.sensor'
touch "$stamp"
echo "Home Assistant venv ready: $venv"
