#!/usr/bin/env bash
# Retrain the models on fresh data: `investiq retrain` (what the weekly timer runs; deploy/systemd/README.md).
# Extra arguments go to `investiq retrain`, e.g. `scripts/retrain_all.sh --config /opt/investiq/config.yaml`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/investiq ]; then
  echo ".venv/bin/investiq is missing: install with scripts/up.sh (or python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[train,cpu,openvino]', as it does)" >&2
  exit 1
fi
exec .venv/bin/investiq retrain "$@"
