#!/usr/bin/env bash
# Install InvestIQ ML with its `train` extra (PyTorch, transformers, onnx: needed to export FinBERT), one
# ONNX Runtime (the `cpu` extra; on a CUDA host: ORT_EXTRA=gpu bash scripts/up.sh, into a fresh .venv) and
# OpenVINO (PatchTST's fastest path on CPUs with BF16 instructions: patchtst_runtime auto) into .venv if needed, at the versions of constraints.txt, then start the stack with `investiq up`.
# Extra arguments go to `investiq up`, e.g. `bash scripts/up.sh --port 9000 --db /data/portfolio.db`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/investiq ] || [ pyproject.toml -nt .venv/bin/investiq ] || [ constraints.txt -nt .venv/bin/investiq ]; then
  python3 -m venv .venv
  # PyPI's torch for Linux is the CUDA build (several GB with its nvidia-* wheels): on a Linux host without an
  # NVIDIA GPU, PyTorch's own index offers the CPU build (~200 MB), which pip then prefers (2.13.0+cpu).
  torch_cpu=()
  if [ "$(uname -s)" = Linux ] && [ "${ORT_EXTRA:-cpu}" = cpu ] && ! command -v nvidia-smi >/dev/null 2>&1 \
    && ! .venv/bin/python -c "import torch" 2>/dev/null \
    && python3 -c "import urllib.request as u; u.urlopen('https://download.pytorch.org/whl/cpu/', timeout=5)" \
      2>/dev/null; then
    torch_cpu=(--extra-index-url https://download.pytorch.org/whl/cpu)
    echo "== no NVIDIA GPU: PyTorch's CPU build from download.pytorch.org (not PyPI's CUDA one, several GB)"
    echo "== installing into .venv (first run: 1-3 minutes, PyTorch included)"
  elif [ "$(uname -s)" = Linux ] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "== installing into .venv: PyTorch as pip finds it (PyPI's Linux torch is the CUDA build, several GB:"
    echo "   minutes to tens of minutes, unless a local wheel or index has the CPU build; download.pytorch.org,"
    echo "   which has the ~200 MB CPU build, could not be reached or a GPU is here)"
  else
    echo "== installing into .venv (first run: 1-3 minutes, PyTorch included)"
  fi
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on ${torch_cpu[@]+"${torch_cpu[@]}"} \
    -e ".[train,${ORT_EXTRA:-cpu},openvino]" -c constraints.txt 2> >(grep -v "is ignored: it is neither" >&2)
  touch .venv/bin/investiq
fi
# OpenVINO's Python package sends anonymous usage data each time it is imported, and ONNX Runtime telemetry, unless
# their user opted out (README, Run it): say so once a start, with the way out, rather than opt out for the user.
if [ ! -f "$HOME/intel/openvino_telemetry" ] || [ "$(cat "$HOME/intel/openvino_telemetry" 2>/dev/null)" != 0 ]; then
  echo "== OpenVINO sends anonymous usage data when imported; to opt out: .venv/bin/opt_in_out --opt_out"
fi
if [ "${ORT_DISABLE_TELEMETRY:-}" != 1 ]; then
  echo "== ONNX Runtime sends telemetry to Microsoft when it starts; to opt out: export ORT_DISABLE_TELEMETRY=1"
fi
exec .venv/bin/investiq up "$@"
