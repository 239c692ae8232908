"""What the three scripts share on the command line: where the models come from, where the
throw-away files go, where the results are written."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reliability.results import RESULTS


def script_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m reliability.MODULE`, its docstring as the description."""
    return argparse.ArgumentParser(
        prog=f"python -m reliability.{module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_common(parser: argparse.ArgumentParser, quick: str) -> None:
    parser.add_argument(
        "--repository",
        type=Path,
        help="a model repository with FinBERT and PatchTST exported (default: tiny models made for the run)",
    )
    parser.add_argument(
        "--work", type=Path, help="keep the journals, logs and models here (default: a temporary directory)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results directory (default {RESULTS})")
    parser.add_argument("--quick", action="store_true", help=f"a few-second smoke run: {quick}")


@contextmanager
def workspace(args: argparse.Namespace) -> Iterator[tuple[Path, Path, str]]:
    """(repository, work directory, a description of the models); a temporary work directory is
    removed afterwards, one given with --work is kept for inspection."""
    work = args.work or Path(tempfile.mkdtemp(prefix="investiq-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.repository is not None:
            yield args.repository.resolve(), work, f"exported models from {args.repository}"
        else:
            from harness.tiny_repository import tiny_repository

            began = time.monotonic()
            print("making tiny FinBERT and PatchTST models (about 20 s) ...", flush=True)
            repository = tiny_repository(work / "models")
            print(f"models ready in {time.monotonic() - began:.0f} s", flush=True)
            yield repository, work, "tiny FinBERT (2 layers, width 32) and PatchTST (context 64, horizon 4)"
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
