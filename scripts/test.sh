#!/usr/bin/env bash
# Install InvestIQ ML with its test extras into .venv, then lint, check the layers, type-check and run the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k bayesian -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
echo "== installing into .venv (first run: about a minute)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2> >(grep -v "is ignored: it is neither" >&2)
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== import-linter (layers: ARCHITECTURE.md)"
.venv/bin/lint-imports
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
