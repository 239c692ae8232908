"""Two figures compared in one sentence, read for which way the news goes.

Interim reports say most of their news in numbers: "Pre-tax profit totalled EUR 6.1 mn, compared to a
pre-tax loss of EUR 2.7 mn", "EPS was EUR -0.18, against EUR 0.07", "gearing fell to 37 % from 58 %".
Words alone read the first as two pieces of evidence pulling apart (profit, loss) and the second as none.
Here a figure A, then a comparing word ("compared to", "compared with", "against", "versus", "vs",
"from"), then a figure B within a few words, is one piece of evidence: up when A > B, down when A < B.

- A loss is a negative figure: a minus sign, or "loss", "deficit" or "negative" among the words that lead
  to the figure. B without such words of its own is the same kind of figure as A ("a loss of 2.1, compared
  to 4.8": two losses, the loss narrowed).
- A cost-like subject before A (costs, debt, gearing, unemployment: the lexicon's `~` terms) turns the
  reading around: debt down from 60 to 48 is good news.
- Both figures must be of one kind: two amounts (a unit of mn/bn/thousand is scaled), two percentages or
  two plain numbers; a bare year ("2024 compared to 2023") is no figure. Figures within 3 % of each other
  are about the same and say nothing ("capital expenditure EUR 22.5 mn, compared with EUR 23.1 mn").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# A figure: optional currency before, a signed number with thousands separators and decimals, optional
# scale or percent after. Currency codes and symbols only mark it as an amount.
_FIGURE = re.compile(
    r"(?P<cur>(?:[$€£¥₹]|\b(?:eur|usd|gbp|jpy|inr|sek|nok|dkk|chf|cny|rmb|cad|aud|rs|euro?s?|dollars?)\b)\s?)?"
    r"(?P<num>(?<![a-z\d.,])(?:[-−–]\s?)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
    r"(?:\s?(?P<scale>%|percent\b|per cent\b|pct\b|mn\b|mln\b|million\b|m\b|bn\b|billion\b|b\b|k\b|thousand\b"
    r"|trillion\b|tn\b))?"
)
_COMPARING = re.compile(
    r"\b(?:compared (?:to|with)|in comparison (?:to|with)|against|versus|vs\.?|from)(?=\W)|\((?=[^()]{0,8}\d)"
)  # ... or a figure in brackets right after another, as Nordic reports give the year before: "74.2 (31.5)"
_SCALES = {"mn": 1e6, "mln": 1e6, "million": 1e6, "m": 1e6, "bn": 1e9, "billion": 1e9, "b": 1e9,
           "k": 1e3, "thousand": 1e3, "trillion": 1e12, "tn": 1e12}  # fmt: skip
_PERCENT = frozenset(["%", "percent", "per cent", "pct"])
_LOSS_WORDS = frozenset(["loss", "losses", "deficit", "deficits", "negative", "outflow", "outflows"])
_PROFIT_WORDS = frozenset(
    ["profit", "profits", "positive", "surplus", "earnings", "income", "sales", "revenue", "inflow", "inflows"]
)
_WORD = re.compile(r"[a-z]+")
_END = re.compile(r"[.;!?](?=\s|$)")  # a sentence's or clause's end (not a decimal point)
_QUALIFIERS = frozenset(["before", "after", "excluding", "ex", "less"])
QUALIFIED = 3  # words after a qualifier that it takes ("before interest and taxes")
SAME = 0.03  # figures within 3 % of the larger are about the same: no news either way
MAX_GAP = 6  # words between the comparing word and B
MAX_LEAD = 12  # words between A and the comparing word


@dataclass(frozen=True)
class Figure:
    value: float
    kind: str  # "amount", "percent" or "number"
    scale: float  # what mn, bn or thousand multiplied it by
    start: int
    end: int


def _figures(text: str) -> Iterator[Figure]:
    for m in _FIGURE.finditer(text):
        digits = m["num"].replace(" ", "").replace(",", "").replace("−", "-").replace("–", "-")
        value = float(digits)
        unit = (m["scale"] or "").strip()
        scale = _SCALES.get(unit, 1.0)
        if unit in _PERCENT:
            kind = "percent"
        elif m["cur"] or unit:
            kind = "amount"
        elif value.is_integer() and 1900 <= abs(value) <= 2100:
            continue  # a year
        else:
            kind = "number"
        yield Figure(value * scale, kind, scale, m.start(), m.end())


def _metric(words: list[str], is_cost: Callable[[str], bool]) -> str | None:
    """What the figure after `words` measures, by the last word that says: "loss", "profit", "cost" or None.
    Words just after "before", "after" or "excluding" qualify another: "profit before taxes" is a profit."""
    qualified = {k + d for k, w in enumerate(words) if w in _QUALIFIERS for d in range(1, QUALIFIED + 1)}
    for k in reversed(range(len(words))):
        word = words[k]
        if k in qualified:
            continue
        if word in _LOSS_WORDS:
            return "loss"
        if word in _PROFIT_WORDS:
            return "profit"
        if is_cost(word):
            return "cost"
    return None


def compared(text: str, is_cost: Callable[[str], bool]) -> Iterator[tuple[str, int]]:
    """Each comparison of two figures in `text`: (its words, +1 up or -1 down, as news for the reader)."""
    lowered = text.lower()
    figures = list(_figures(lowered))
    for marker in _COMPARING.finditer(lowered):
        before = [f for f in figures if f.end <= marker.start()]
        after = [f for f in figures if f.start >= marker.end()]
        if not before or not after:
            continue
        a, b = before[-1], after[0]
        between, gap = lowered[a.end : marker.start()], lowered[marker.end() : b.start]
        if marker.group() == "(":
            if between.strip():
                continue  # "EUR 74.2 mn (31.5)": the bracket right after A
            if b.kind == "number" and a.kind != "number":
                b = Figure(b.value * a.scale, a.kind, a.scale, b.start, b.end)  # "(31.5)": A's unit
        if a.kind != b.kind or _END.search(between) or _END.search(gap):
            continue
        if len(_WORD.findall(between)) > MAX_LEAD or len(_WORD.findall(gap)) > MAX_GAP:
            continue
        sentence = max((m.end() for m in _END.finditer(lowered, 0, a.start)), default=0)
        metric_a = _metric(_WORD.findall(lowered[sentence : a.start]), is_cost)
        metric_b = _metric(_WORD.findall(gap), is_cost) or metric_a
        value_a = -abs(a.value) if metric_a == "loss" else a.value
        value_b = -abs(b.value) if metric_b == "loss" else b.value
        if abs(value_a - value_b) <= SAME * max(abs(value_a), abs(value_b)):
            continue
        direction = 1 if value_a > value_b else -1
        yield text[a.start : b.end], -direction if metric_a == "cost" else direction
