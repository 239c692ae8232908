#!/usr/bin/env bash
# Install InvestIQ ML with its test extras into .venv, then lint, check the layers, type-check and run the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k bayesian -x`; `-n 0` runs the tests in one process.
# Two workers (PYTEST_WORKERS), each running whole files (`--dist loadfile`: a module's fixtures are built once):
# most tests wait on servers, so two share two cores well (13 -> 9 minutes on a 2-core machine).
# ONNX Runtime: the `cpu` extra (on a CUDA host: ORT_EXTRA=gpu bash scripts/test.sh, into a fresh .venv).
# The tritonserver of the Triton tests (the `triton` extra) needs numpy<2, so it gets an environment of its own,
# .venv-triton, which the tests find (investiq/ops/triton_server.py); .venv keeps numpy 2.
# constraints.txt pins the versions tested together (torch).
set -euo pipefail
cd "$(dirname "$0")/.."
pip_install() {  # venv, then pip arguments; quiet, without the noise of this machine's local indexes
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt "${@:2}" \
    2> >(grep -v "is ignored: it is neither" >&2)
}
python3 -m venv .venv
echo "== installing into .venv (first run: about a minute)"
pip_install .venv -e ".[test,${ORT_EXTRA:-cpu}]"
triton=""  # the second environment installs beside the checks below (they need .venv only): ~50 s less on 2 cores
if [ ! -f .venv-triton/installed ] || [ pyproject.toml -nt .venv-triton/installed ]; then
  echo "== installing the pip tritonserver into .venv-triton (numpy<2, apart from .venv; first run: about a minute, beside the checks)"
  (python3 -m venv .venv-triton && pip_install .venv-triton -e '.[triton]' && touch .venv-triton/installed) &
  triton=$!
fi
echo "== ruff (at ${SECONDS} s)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== import-linter (layers: ARCHITECTURE.md; at ${SECONDS} s)"
.venv/bin/lint-imports
echo "== mypy (at ${SECONDS} s)"
.venv/bin/mypy
if [ -n "$triton" ] && ! wait "$triton"; then
  echo "error: installing .venv-triton failed (see above); the Triton tests need it" >&2
  exit 1
fi
echo "== pytest (at ${SECONDS} s)"
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
