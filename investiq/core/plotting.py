"""Matplotlib as every plot of the product draws with it: the Agg backend (no display on servers) and text drawn
as written."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, chosen before pyplot is imported, with `$...$` in a label drawn as
    written rather than read as math: strategy names and symbols come from the agent, and a strategy named
    `$\\bogus{x}$` ended `investiq report` in a traceback, `A$B$` in italics (a review)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt
