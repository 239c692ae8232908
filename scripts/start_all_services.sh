#!/usr/bin/env bash
# Start the gateway (and the local Triton when the backend is triton) in the background: `investiq start`.
# Extra arguments go to `investiq start`, e.g. `scripts/start_all_services.sh --port 9000 --backend triton`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/investiq ]; then
  echo ".venv/bin/investiq is missing: install with scripts/up.sh (or python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[train,cpu,openvino]', as it does)" >&2
  exit 1
fi
exec .venv/bin/investiq start "$@"
