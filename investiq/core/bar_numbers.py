"""The prices of a bar file's cells, however a spreadsheet wrote them: currency signs, thousands grouped by
commas, spaces or apostrophes, decimal commas (`decimal_comma`, `numbers`), and closes that read as no number."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.core.bar_columns import empty_cells
from investiq.core.bar_times import row_name
from investiq.core.errors import DataError

# Thousands grouped by a space, an apostrophe (Swiss: 1'234.56, or its typographic form) or a no-break space
# (U+00A0, or the narrow U+202F that French and Swiss locales write; U+2009, a thin space): never a decimal sign,
# so dropped wherever they group digits in threes. Read as no number before, a 5,031-row file grouped so kept
# its 503 closes under 1,000, with holes of 5 years, and trained on them (a review).
GROUP_MARKS = " '\u2019\u00a0\u202f\u2009"
SPACED = rf"[-+]?\d{{1,3}}([{GROUP_MARKS}])\d{{3}}(?:\1\d{{3}})*(?:[.,]\d*)?"  # 1 234.56, 1'234,5, 1 234 567
# A file where more than this share of the non-empty close cells that hold digits reads as no number is refused:
# a format not read here (dropping those rows would train on the rest, with holes). Fewer are dropped and counted.
UNREADABLE_SHARE = 0.05


# 1,050.25 or 1,095: thousands grouped with commas; never from a leading 0 ("0,512" is a decimal comma: it was read
# as 512, a review)
GROUPED = r"[-+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?"
COMMA_DECIMAL = r"[-+]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+"  # 1.050,25 or 1050,25 or 1,095: a decimal comma
POINT_DECIMAL = r"[-+]?\d*\.\d+"  # 1050.25
POINT_GROUPED = r"[-+]?\d{1,3}(?:\.\d{3})+"  # 1.050: thousands where commas are decimal, else 1.05


def _text(values: pd.Series) -> pd.Series:
    """A column as stripped text without a leading currency sign ($, €, £, ¥), and without the spaces, apostrophes
    or no-break spaces that group its thousands (SPACED: 1 234.56 is 1234.56, 1 234,56 is 1234,56)."""
    text = values.astype(str).str.strip().str.replace(r"^([-+]?)[$€£¥]\s*", r"\1", regex=True)
    return text.where(~text.str.fullmatch(SPACED), text.str.replace(f"[{GROUP_MARKS}]", "", regex=True))


def decimal_comma(columns: list[pd.Series]) -> bool:
    """Whether the price columns of one file write decimal commas (European spreadsheets: 1050,25, 1.050,25):
    some number in them reads only that way (1,1113, 1050,25) and none reads only with a decimal point
    (1,050.25, 1050.25). A file whose every comma has three digits after it (1,095) stays read as thousands:
    nothing in it says otherwise."""
    comma_only = point_only = False
    for values in columns:
        if pd.api.types.is_numeric_dtype(values):
            continue
        text = _text(values)
        grouped, european = text.str.fullmatch(GROUPED), text.str.fullmatch(COMMA_DECIMAL)
        comma_only = comma_only or bool((european & ~grouped).any())
        point = text.str.fullmatch(POINT_DECIMAL) & ~text.str.fullmatch(POINT_GROUPED)
        point_only = point_only or bool((point | (grouped & text.str.contains(".", regex=False))).any())
    return comma_only and not point_only


def numbers(values: pd.Series, comma: bool = False) -> NDArray[np.float64]:
    """A column's numbers as float64, NaN where there is none. Text may carry a currency sign ($, €, £, ¥) and
    thousands grouped with commas (1,050.25), as spreadsheets export prices, or with spaces, apostrophes or
    no-break spaces (1 050.25, 1'050.25: SPACED); with `comma` (decimal_comma of the file), a decimal comma and
    points or those marks grouping thousands (1.050,25, 1 050,25)."""
    if not pd.api.types.is_numeric_dtype(values):
        text = _text(values)
        if comma:  # a point can only group thousands then: 1.050 is 1050
            european = text.str.fullmatch(COMMA_DECIMAL) | text.str.fullmatch(POINT_GROUPED)
            written = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            values = text.where(~european, written)
        else:
            grouped = text.str.fullmatch(GROUPED)
            values = text.where(~grouped, text.str.replace(",", "", regex=False))
    out: NDArray[np.float64] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    return out


def unreadable_closes(
    df: pd.DataFrame, column: object, close: NDArray[np.float64], symbol: str, *, refuse: bool = True
) -> NDArray[np.bool_]:
    """Rows of raw `df` whose close cell (in `column`; `close`, as numbers read it) holds digits yet reads as no
    number ("1.2.3", "12:30"): dropped with the NaN closes and counted. DataError naming one and its file line when
    they are more than UNREADABLE_SHARE of the non-empty close cells: a format not read here, and training on the
    rest would train on a series with holes."""
    values = df[column]
    if pd.api.types.is_numeric_dtype(values):
        return np.zeros(len(df), dtype=bool)
    text = values.astype(str).str.strip()
    written = ~empty_cells(values)
    bad = written & text.str.contains(r"\d").to_numpy() & np.isnan(close)
    if refuse and bad.sum() > UNREADABLE_SHARE * written.sum():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"bars for {symbol}: {bad.sum()} of {written.sum()} close cells read as no number, e.g. "
            f"{text.iloc[first]!r} on {row_name(df, first)}; write prices as 1234.56, with thousands grouped by "
            "commas, spaces or apostrophes or not at all, or as 1.234,56 with a decimal comma throughout"
        )
    return np.asarray(bad, dtype=bool)
