"""Names as the journal keeps them (strategies, symbols): one spelling each, and only characters that show.

Read by the gateway's request schemas and by the sync of the agent's `trades` table, so that a strategy sent to
`/bayesian/update` and the same strategy read from `trades` are one name.
"""

from __future__ import annotations

import unicodedata

MAX_NAME = 128  # characters of a strategy or symbol name, once normalised
NAME_MAX = 255  # bytes of one file name on Linux's and macOS's file systems
# A symbol names its bar cache's file, `<SYMBOL>_<interval>.parquet`, written through a temporary file beside it
# named `.<file>.XXXXXXXX.tmp` (investiq/core/atomic.py `replacing`): this many bytes besides the symbol's, at the
# longest interval name (`1wk`).
FILE_NAME_EXTRA = len("_1wk.parquet") + len("..12345678.tmp")


def one_spelling(name: str) -> str:
    """NFC-normalised and trimmed: "café" composed (U+00E9) or decomposed (e + U+0301) is one name."""
    return unicodedata.normalize("NFC", name).strip()


def ticker(symbol: str) -> str:
    """A symbol as the journal, the bar cache and the backtest keep it: one spelling, in upper case. Tickers are
    upper case (Yahoo's, exchanges'), and the bar cache already wrote "spy" and "SPY" to one file, but the journal
    kept them as two symbols, each with half the forecasts in /price/evaluate and live skill (a new user's review).
    NFC again after upper-casing, which may decompose ("ǰ" -> "J" + U+030C)."""
    return one_spelling(one_spelling(symbol).upper())


def symbol_problem(symbol: str) -> str | None:
    """Why `symbol` cannot name a bar cache file (a path separator, a leading dot, too many bytes for a file name),
    or None. One rule for every symbol the gateway takes, whether or not bars are ever fetched for it: "A/B"
    journaled with a headline, or 128 accented letters with closes (a file name too long: a 500 without them, and
    with them a row whose OSError stopped every symbol's resolution)."""
    name = ticker(symbol)
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return f"symbol {symbol!r} cannot name a cache file; use a ticker such as AAPL"
    size = len(name.encode())
    if size + FILE_NAME_EXTRA > NAME_MAX:
        return (
            f"symbol {symbol[:16]!r}... cannot name a cache file: {size} bytes in UTF-8, at most "
            f"{NAME_MAX - FILE_NAME_EXTRA}; use a ticker such as AAPL"
        )
    return None


def first_invisible(value: str) -> str | None:
    """The first character of `value` that does not show: control, format (zero-width), surrogate, private-use,
    unassigned, or a separator other than the plain space (U+2028, a no-break space), or a combining mark that
    begins it, with no letter to sit on (a name of U+0301 alone was accepted, a review); None if none."""
    if value and unicodedata.category(value[0]).startswith("M"):
        return value[0]
    return next((ch for ch in value if not ch.isprintable()), None)


# what makes Markdown of a name's text ("__init__" was bold: "_" too; a review), and "&" starts an entity
MARKDOWN_SPECIAL = frozenset("\\`*_[]|~")


def markdown_text(name: str) -> str:
    """`name` as literal text in Markdown, a table's cell too: `long|short` split a report.md table's row, and
    `**x**` or `<img src=x>` rendered (a review of the reports). Characters with meaning there are escaped."""
    escaped = "".join(f"\\{ch}" if ch in MARKDOWN_SPECIAL else ch for ch in name)
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


LABEL_WIDTH = 28  # characters of a name in a plot's label; a longer one loses its middle to an ellipsis


def shortened(name: str, width: int = LABEL_WIDTH) -> str:
    """`name`, cut to `width` characters with an ellipsis in its middle, for a plot's labels: 40 long names pushed
    a legend off its figure, and long symbols squeezed a forest plot into a third of its width (a review). Both
    ends are kept: names that share a prefix differ at the end ("mean_reversion_bollinger_band_AAPL", "..._MSFT"
    were ten identical labels when cut at the end: a review of the plots)."""
    if len(name) <= width:
        return name
    tail = (width - 1) // 2
    return name[: width - 1 - tail] + "\u2026" + name[len(name) - tail :]
