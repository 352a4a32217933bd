#!/usr/bin/env bash
# Installs what kproof needs on a fresh Debian/Ubuntu machine: the Debian packages it drives
# (kubectl, bubblewrap, iptables, postgresql, Ceph, chromium) when they are missing, Allure 3 from npm where npm exists,
# then torch (CPU), then kproof with its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

missing=()
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
# keeps each platform's pods to their own bridge (reference.runtime.network)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# initdb and pg_ctl for the private PostgreSQL of seed 002's pipeline (and psql for its walk-through)
{ ls /usr/lib/postgresql/*/bin/pg_ctl || command -v pg_ctl; } >/dev/null 2>&1 || missing+=(postgresql)
# a single-node Ceph with its object gateway for seed 003 (reference.ceph, `kproof up --ceph`): the monitor,
# the OSD, radosgw, and the ceph, ceph-authtool and radosgw-admin tools (monmaptool comes with ceph-mon)
command -v ceph-mon >/dev/null 2>&1 || missing+=(ceph-mon)
command -v ceph-osd >/dev/null 2>&1 || missing+=(ceph-osd)
command -v radosgw >/dev/null 2>&1 || missing+=(radosgw)
command -v radosgw-admin >/dev/null 2>&1 || missing+=(ceph-common)
# headless Chromium for the tests that open the HTML report and Locust's web UI (Playwright drives it)
{ command -v chromium || command -v chromium-browser; } >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install ${missing[*]} (no apt-get here); the tests that need them will skip" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
PIP=("$PYTHON" -m pip install --quiet --disable-pip-version-check)
# torch first, pinned to the CPU build this machine's index holds: a plain `torch` would pull CUDA's.
"$PYTHON" -c 'import torch' 2>/dev/null || "${PIP[@]}" "torch==${KPROOF_TORCH:-2.13.0}"
"${PIP[@]}" -e '.[test]'

# Allure 3 renders reports/html/ (no Java); without npm, `kproof run` writes a page of its own instead.
if ! command -v allure >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  $SUDO npm install --global --silent --no-audit --no-fund "allure@${KPROOF_ALLURE_VERSION:-3}" >/dev/null 2>&1 \
    || echo "setup: could not install allure from npm; reports/html/ will be kproof's own page" >&2
fi
