#!/usr/bin/env bash
# Stop what `investiq start` started (gateway, then local Triton): `investiq stop`.
# Extra arguments go to `investiq stop`, e.g. `scripts/stop_all_services.sh --timeout 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/investiq ]; then
  echo ".venv/bin/investiq is missing: install with scripts/up.sh (or python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[train,cpu,openvino]', as it does)" >&2
  exit 1
fi
exec .venv/bin/investiq stop "$@"
