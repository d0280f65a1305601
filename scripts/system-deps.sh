#!/usr/bin/env bash
# Install the Debian packages solarstack's tests and demo run for real (Mosquitto,
# Prometheus and Alertmanager, VictoriaMetrics (the v2 write path) and InfluxDB 1.6 (v1) as sinks, Chromium for the web
# tests, podman for the compose stack test, qemu-user-static for the arm64 images: scripts/build_images.py
# registers it with binfmt_misc itself). Only as root, and only what is missing.
set -euo pipefail
packages=(mosquitto mosquitto-clients prometheus prometheus-alertmanager victoria-metrics influxdb chromium chromium-driver
          podman buildah runc iptables netavark aardvark-dns debootstrap qemu-user-static wrk)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} — install them (as root: apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
