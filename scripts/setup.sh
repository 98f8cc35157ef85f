#!/usr/bin/env bash
# Idempotent set-up for Debian 12 (run as root): QGIS 3.22 from Debian, a venv on the
# system Python with torch (CPU) and scikit-learn, and the demo sample imagery.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

APT_PACKAGES="qgis python3-qgis qgis-providers python3-rasterio python3-venv gdal-bin xvfb"
missing=""
for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi

# The venv sees Debian's qgis, rasterio and GDAL (one GDAL per process); pip adds torch and sklearn.
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.requirements.sha
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
    echo "$want" > "$stamp"
fi

# Demo sample: Landsat-7 + SRTM of Olinda shipped by Debian's r-cran-stars (no R needed).
if [ ! -f data/stars/tif/L7_ETMs.tif ]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && apt-get download r-cran-stars >/dev/null 2>&1 || { apt-get update -q && apt-get download r-cran-stars; })
    dpkg -x "$tmp"/r-cran-stars_*.deb "$tmp/x"
    mkdir -p data/stars/tif
    src="$(dirname "$(find "$tmp/x" -name L7_ETMs.tif | head -n1)")"
    cp "$src/L7_ETMs.tif" "$src/olinda_dem_utm25s.tif" data/stars/tif/
    rm -rf "$tmp"
fi
echo "setup: done ($ROOT)"
