#!/usr/bin/env bash
# On a machine with NVIDIA GPUs (under 5 minutes): start the reference, show its node's real GPUs, run a
# replica with one GPU and print what torch.cuda sees inside it (exactly one device, its name); then the
# intent model server on the GPU: its cold start and its throughput with and without batching.
# Needs kproof's Python dependencies with a CUDA build of torch; on a machine without a package index,
# give a folder of wheels: KPROOF_WHEELS=/path/to/wheels bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ -n "${KPROOF_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --find-links "$KPROOF_WHEELS" "$KPROOF_WHEELS"/*.whl
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv || true
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" timeout 290 python3 scripts/gpu_check.py
