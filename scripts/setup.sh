#!/usr/bin/env bash
# Installs what kproof needs on a fresh Debian/Ubuntu machine: the Debian packages it drives
# (kubectl, bubblewrap) when they are missing, then kproof itself with its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

missing=()
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
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
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[test]'
