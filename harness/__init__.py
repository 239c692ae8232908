"""Scripts and test models for checking the stack: simulations, tiny models, benchmarks' helpers."""

from __future__ import annotations

import sys


def usage_unless_one_path(argv: list[str], doc: str) -> int | None:
    """None when `argv` is one path for a `python -m harness.X OUT` script; else its usage `doc` printed and the
    exit code: 0 for -h/--help, on stdout, 2 for anything else, on stderr (`--help` wrote a file named so)."""
    if len(argv) == 1 and not argv[0].startswith("-"):
        return None
    asked = argv in (["-h"], ["--help"])
    print(doc.strip(), file=sys.stdout if asked else sys.stderr)
    return 0 if asked else 2
