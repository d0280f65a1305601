#!/usr/bin/env bash
# Install a Home Assistant release into its own cached venv, for the discovery tests.
#
# Home Assistant is not a project dependency: it pins hundreds of packages that clash with
# ours, so it lives in a venv of its own that the tests call as a subprocess. Two lines:
#   2024.1  homeassistant 2024.1.6 on Python 3.11 (per-entity discovery). About 2.5 min on
#           an idle machine.
#   2025.4  homeassistant 2025.4.4 on Python 3.13 (pyenv's 3.13.x here): the newest line
#           3.13.0 runs, and it parses device-based discovery (2024.11+) with its own code.
#           Several dependencies build from source: 5-20 min.
#   Both run headless in the tests with --skip-pip (offline), so the extra pins are what
#   HA would otherwise pip-install at start-up.
#
# Usage: tests/discovery/install_ha.sh [LINE] [VENV_DIR]
#   LINE     2024.1 (default) or 2025.4
#   VENV_DIR default /var/cache/solarstack-test/ha-venv (2024.1, or $SOLARSTACK_HA_VENV)
#            and /var/cache/solarstack-test/ha-venv-2025.4 (or $SOLARSTACK_HA2025_VENV)
# Idempotent: a finished venv (stamp file) is left alone.
set -euo pipefail

line="${1:-2024.1}"
case "$line" in
    2024.1)
        version=2024.1.6
        venv="${2:-${SOLARSTACK_HA_VENV:-/var/cache/solarstack-test/ha-venv}}"
        python="${SOLARSTACK_HA_PYTHON:-python3.11}"
        extra=(paho-mqtt==1.6.1 janus==1.0.0 Pillow==10.1.0 psutil-home-assistant==0.0.1
            SQLAlchemy==2.0.23 fnv-hash-fast==0.5.0)
        ;;
    2025.4)
        version=2025.4.4
        venv="${2:-${SOLARSTACK_HA2025_VENV:-/var/cache/solarstack-test/ha-venv-2025.4}}"
        python=""
        # pyenv's shim answers for python3.13 only when 3.13 is the selected version, so
        # look for the interpreter itself too.
        for candidate in "${SOLARSTACK_HA2025_PYTHON:-}" python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
            if [[ -n "$candidate" ]] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
                python="$candidate"
                break
            fi
        done
        if [[ -z "$python" ]]; then
            echo "install_ha.sh: no Python 3.13 found (set SOLARSTACK_HA2025_PYTHON)" >&2
            exit 3  # the tests skip this line on a machine without Python 3.13
        fi
        # the MQTT client, and what the headless run loads at start-up (pins from HA's
        # manifests: frontend, recorder) since it runs with --skip-pip
        extra=(paho-mqtt==2.1.0 home-assistant-frontend==20250411.0 SQLAlchemy==2.0.39
            fnv-hash-fast==1.4.0 psutil-home-assistant==0.0.1)
        ;;
    *)
        echo "install_ha.sh: unknown line '$line' (2024.1 or 2025.4)" >&2
        exit 2
        ;;
esac
stamp="$venv/.solarstack-ha-$version"

if [[ -f "$stamp" ]]; then
    echo "Home Assistant $version venv ready: $venv"
    exit 0
fi

rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
# (pip warns once per package about index paths that do not exist on some machines; noise)
"$venv/bin/pip" install --quiet "homeassistant==$version" "${extra[@]}" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
# Prove the schema import path works before declaring the venv ready.
"$venv/bin/python" -c 'import homeassistant.components.persistent_notification, homeassistant.components.mqtt.sensor'
touch "$stamp"
echo "Home Assistant $version venv ready: $venv"
