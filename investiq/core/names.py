"""Names as the journal keeps them (strategies, symbols): one spelling each, and only characters that show.

Read by the gateway's request schemas and by the sync of the agent's `trades` table, so that a strategy sent to
`/bayesian/update` and the same strategy read from `trades` are one name.
"""

from __future__ import annotations

import unicodedata

MAX_NAME = 128  # characters of a strategy or symbol name, once normalised


def one_spelling(name: str) -> str:
    """NFC-normalised and trimmed: "café" composed (U+00E9) or decomposed (e + U+0301) is one name."""
    return unicodedata.normalize("NFC", name).strip()


def first_invisible(value: str) -> str | None:
    """The first character of `value` that does not show: control, format (zero-width), surrogate, private-use,
    unassigned, or a separator other than the plain space (U+2028, a no-break space); None if none."""
    return next((ch for ch in value if not ch.isprintable()), None)
