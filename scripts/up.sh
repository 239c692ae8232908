#!/usr/bin/env bash
# Install InvestIQ ML with its `train` extra (PyTorch, transformers, onnx: needed to export FinBERT), one
# ONNX Runtime (the `cpu` extra; on a CUDA host: ORT_EXTRA=gpu bash scripts/up.sh, into a fresh .venv) and
# OpenVINO (PatchTST's fastest path on CPUs with BF16 instructions: patchtst_runtime auto) into .venv if needed, at the versions of constraints.txt, then start the stack with `investiq up`.
# Extra arguments go to `investiq up`, e.g. `bash scripts/up.sh --port 9000 --db /data/portfolio.db`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/investiq ] || [ pyproject.toml -nt .venv/bin/investiq ] || [ constraints.txt -nt .venv/bin/investiq ]; then
  python3 -m venv .venv
  echo "== installing into .venv (first run: 1-3 minutes, PyTorch included; quiet until it is done)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[train,${ORT_EXTRA:-cpu},openvino]" \
    -c constraints.txt 2> >(grep -v "is ignored: it is neither" >&2)
  touch .venv/bin/investiq
fi
exec .venv/bin/investiq up "$@"
