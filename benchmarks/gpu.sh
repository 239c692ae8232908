#!/usr/bin/env bash
# GPU benchmarks on a CUDA host with Docker, the compose plugin and the NVIDIA container toolkit:
#   bash benchmarks/gpu.sh                       # results under benchmarks/results/gpu/
# 1. exports FinBERT and PatchTST into model_repository/ when they are not there yet;
# 2. starts Triton's gpu flavour (docker compose; ONNX Runtime with TensorRT FP16, one instance of each
#    model on every GPU given to the container) and waits until both models are ready: TensorRT builds
#    its engines on first load (cached in the compose volume trt-cache, so later runs start fast);
# 3. perf_analyzer over gRPC, concurrency 1..64, finbert and patchtst (benchmarks/perf_analyzer.sh in the
#    SDK container, compose profile `perf`): CSV files in perf/;
# 4. the Python load generator: a real `investiq serve --backend triton` in front of that Triton, client
#    concurrency 1..64, one headline per request (benchmarks/scaling.py): scaling.json/.md and a PNG.
# Without a visible GPU it says so and exits 0, so that CPU hosts and CI can call it.
# Works on 1..N GPUs. Settings (environment): GPUS (how many to give Triton, the first ones; default all
# that nvidia-smi lists), PYTHON, FINBERT_SOURCE (weights for the export), RESULTS, SECONDS_PER_POINT,
# TRITON_WAIT_S, KEEP_TRITON=1 (leave Triton running), NVIDIA_SMI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

smi=${NVIDIA_SMI:-nvidia-smi}
if ! command -v "$smi" >/dev/null 2>&1; then
  echo "no GPU: $smi is not installed; skipping the GPU benchmarks"
  exit 0
fi
visible=$("$smi" -L 2>/dev/null | grep -c '^GPU ' || true)
if [ "$visible" -eq 0 ]; then
  echo "no GPU visible to $smi; skipping the GPU benchmarks"
  exit 0
fi
# From here on a GPU is present, so whatever is missing is an error worth stopping for.
fail() { echo "gpu.sh: $*" >&2; exit 1; }
gpus=${GPUS:-$visible}
[[ "$gpus" =~ ^[1-9][0-9]*$ ]] && [ "$gpus" -le "$visible" ] \
  || fail "GPUS=$gpus: give a count from 1 to $visible (the GPUs $smi lists)"
# docker-compose.yml reserves `count: ${TRITON_GPUS:-all}`; Triton puts one instance of each model on each.
if [ "$gpus" -eq "$visible" ]; then export TRITON_GPUS=all; else export TRITON_GPUS=$gpus; fi
export TRITON_MAX_INFLIGHT=$((gpus * 2 > 4 ? gpus * 2 : 4))  # the gateway's calls in flight: two per GPU instance
docker compose version >/dev/null 2>&1 || fail "needs Docker with the compose plugin and the NVIDIA container toolkit"
# docker-compose.yml requires ML_API_KEY (${ML_API_KEY:?...}, for its gateway), and compose interpolates every
# service whichever it starts: `docker compose up -d triton` refused to start without it. This script starts no
# gateway of compose's (its own, step 4, runs without a key on 127.0.0.1), so its compose commands get a
# throw-away key when none is set; only them: the key is not exported to anything else.
compose() { ML_API_KEY=${ML_API_KEY:-gpu-sh-starts-no-compose-gateway} docker compose "$@"; }
# compose's Triton loads models only for calls with TRITON_ADMIN_TOKEN (docker-compose.yml): one for it and this
# script's gateway, which sends it
export TRITON_ADMIN_TOKEN=${TRITON_ADMIN_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(24))')}
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
"$py" -c 'import investiq, tritonclient.grpc' 2>/dev/null \
  || fail "$py lacks the project or the Triton client: pip install -e '.[train,gpu]'"

out=${RESULTS:-$root/benchmarks/results/gpu}
mkdir -p "$out/perf"
# The GPUs Triton gets: the first $gpus of the list (what the container runtime hands out for a count).
"$smi" --query-gpu=index,name,driver_version,memory.total --format=csv | head -n "$((gpus + 1))" >"$out/gpus.csv"
echo "== GPUs ($gpus of $visible)"; cat "$out/gpus.csv"

exported() { compgen -G "model_repository/$1/[0-9]*/artifact.json" >/dev/null; }
echo "== models"
exported finbert_model || "$py" -m investiq export finbert ${FINBERT_SOURCE:+--source "$FINBERT_SOURCE"}
exported patchtst || "$py" -m investiq export patchtst  # says what to train first when there is nothing

echo "== Triton (gpu flavour)"
compose up -d triton
if [ "${KEEP_TRITON:-0}" != 1 ]; then
  trap 'compose stop triton >/dev/null' EXIT
fi
wait_s=${TRITON_WAIT_S:-900}
ready() { curl -fsS -o /dev/null "http://127.0.0.1:8000/v2/models/$1/ready"; }
for ((s = 0; ; s += 5)); do
  if ready finbert && ready patchtst; then break; fi
  [ "$s" -lt "$wait_s" ] || fail "finbert and patchtst not ready after ${wait_s}s: docker compose logs triton"
  sleep 5
done
echo "ready after about ${s}s"

echo "== perf_analyzer (results in $out/perf)"
compose --profile perf run --rm -e PERF_OUT=/out -v "$out/perf:/out" perf

echo "== gateway -> Triton, by client concurrency"
"$py" - "$out" "${SECONDS_PER_POINT:-10}" <<'EOF'
import os
import sys
from pathlib import Path

from benchmarks import plots, scaling

out, seconds = Path(sys.argv[1]), float(sys.argv[2])
# model.onnx, not the INT8 variant, is what Triton serves (TensorRT FP16): say so in the model version
env = {"INVESTIQ_BACKEND": "triton", "INVESTIQ_TRITON_URL": "127.0.0.1:8001", "INVESTIQ_QUANTIZE": "false"}
env["INVESTIQ_TRITON_MAX_INFLIGHT"] = os.environ["TRITON_MAX_INFLIGHT"]
result = scaling.run(Path("model_repository"), batch_sizes=(), lengths=(), seconds=seconds, gateway_env=env, out=out)
plots.run(None, result, out)
EOF
echo "results in $out"
