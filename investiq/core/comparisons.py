"""Two figures compared in one sentence, read for which way the news goes.

Interim reports say most of their news in numbers: "Pre-tax profit totalled EUR 6.1 mn, compared to a
pre-tax loss of EUR 2.7 mn", "EPS was EUR -0.18, against EUR 0.07", "gearing fell to 37 % from 58 %".
Words alone read the first as two pieces of evidence pulling apart (profit, loss) and the second as none.
Here a figure A, then a comparing word ("compared to", "compared with", "against", "versus", "vs", "from",
"under", "below", "above", "than", "short of", "a fraction of", "ahead of", "trailed", "lagged", "topped",
"exceeded", a bracket right after A as Nordic reports give the year before: "74.2 (31.5)", or a comma before an
estimate as wire flashes give it: "NET INCOME $18.1B, EST. $16.4B"), then a figure B with only a few connecting
words between ("a loss of", "estimates of", "a year earlier"), is one piece of evidence: up when A > B, down
when A < B.

- A loss is a negative figure: a minus sign, or "loss", "deficit", "outflow" or "negative" among the words
  that lead to it. B without such words of its own is the same kind of figure as A ("a loss of 2.1,
  compared to 4.8": two losses, the loss narrowed); a loss or a profit may also be named by the word right
  after an amount ("$22 million versus a $61 million outflow"). A change is negative after a falling word
  ("fell 5 %") or before one ("a 2.5 % decline"), and B with no direction of its own is then a fall too ("a
  1 % decline versus the 4 % that was feared"); "flat" or "unchanged" is a change of 0 % ("sales were flat,
  versus guidance for a 3 % increase").
- A cost-like subject right before A (costs, debt, gearing, unemployment: the lexicon's `~` terms) turns
  the reading around: debt down from 60 to 48 is good news. "Rate" is a cost only as a rate of interest.
- Both figures must be of one kind and scale: two amounts (mn/bn/crore are scaled; a total is not
  compared with a figure per share), two percentages, two changes in basis points or two plain numbers;
  a year and a day of a month are not figures to compare, a range counts as its middle, "from 10 % to
  12 %" is no comparison of 10 % with what came before it, and figures within 1 % of each other say nothing.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# A figure: optional currency before, a number with thousands separators and decimals (a minus only where
# it cannot be a range's dash: "8%-10%", "1.20 - 1.25"), optional scale or percent after.
_FIGURE = re.compile(
    r"(?P<cur>(?:(?:\b(?:c|a|hk|s|nz|us))?[$€£¥₹]|\b(?:eur|usd|gbp|jpy|inr|sek|nok|dkk|chf|cny|rmb|cad|aud|rs|euro?s?"
    r"|aed|sar|qar|kwd|brl|mxn|zar|krw|idr|twd|sgd|myr|thb|php|cop|clp|pln|huf|czk|ils|egp|ngn|dollars?)\b)\s?)?"
    r"(?P<open>\()?(?<![a-z\d.,%)])(?P<num>[-−–]?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:[ \u00a0]\d{3})+|\d+)(?:\.\d+)?)"
    r"(?(open)\))"  # "$(0.12)": an accountant's negative, only with a currency before the bracket
    r"(?:\s?(?P<scale>%|percent\b|per cent\b|pct\b|bps\b|bp\b|basis points?\b|mn\b|mln\b|million\b|m\b|bn\b|bln\b"
    r"|billion\b|b\b|k\b|thousand\b|trillion\b|tn\b|lakh crores?\b|crores?\b|lakhs?\b|cents?\b))?"
)
_COMPARING = re.compile(
    r"\b(?:compared (?:to|with)|compares? (?:to|with)|in comparison (?:to|with)|against|versus|vs\.?|from"
    r"|under|below|above|than|short of|fraction of|ahead of"
    r"|trail(?:s|ed|ing)?|lag(?:s|ged|ging)?|top(?:s|ped)|exceed(?:s|ed)?)(?=\W)"
    r"|(?<!\$)\((?=[^()]{0,8}\d)"
    r"|,(?=\s*(?:est|estimates?|consensus|expected|exp|forecast|poll)\b)"  # a flash: "EPS $1.23, est. $1.10"
)
# The comparing words of _COMPARING: a move right before one of them ("narrowing sharply from") is what the
# comparison reads (investiq/core/lexicon.py counts it once, there).
COMPARING_WORDS = frozenset(
    ["compared", "compares", "compare", "comparison", "against", "versus", "vs", "from", "under", "below", "above",
     "than", "short", "fraction", "ahead", "trail", "trails", "trailed", "trailing", "lag", "lags", "lagged",
     "lagging", "tops", "topped", "exceed", "exceeds", "exceeded"]
)  # fmt: skip
# After B, a later period than A's: "revenue $10bn in Q3, consensus $11bn for Q4" compares nothing.
_LATER = re.compile(
    r"\s*for\s+(?:next|the next|the coming|q[1-4]|[1-4]q|fy|h[12]|(?:19|20)\d\d|(?:the )?full.year)\b"
)
_SCALES = {"mn": 1e6, "mln": 1e6, "million": 1e6, "m": 1e6, "bn": 1e9, "bln": 1e9, "billion": 1e9, "b": 1e9,
           "k": 1e3, "thousand": 1e3, "trillion": 1e12, "tn": 1e12, "crore": 1e7, "crores": 1e7, "lakh": 1e5,
           "lakhs": 1e5, "lakh crore": 1e12, "lakh crores": 1e12, "cent": 0.01, "cents": 0.01}  # fmt: skip
SCALE_WORDS = frozenset(w for unit in _SCALES for w in unit.split())  # "$600 million in costs": the amount's words
_PERCENT = frozenset(["%", "percent", "per cent", "pct"])
_POINTS = frozenset(["bps", "bp", "basis point", "basis points"])
_LOSS_WORDS = frozenset(["loss", "losses", "deficit", "deficits", "negative", "outflow", "outflows"])
_PROFIT_WORDS = frozenset(
    ["profit", "profits", "positive", "surplus", "earnings", "income", "sales", "revenue", "inflow", "inflows"]
)
# Words that may stand between the comparing word and B: "compared with a net loss of", "estimates of".
_CONNECTING = frozenset([
    "a", "an", "the", "of", "net", "pre", "tax", "pretax", "operating", "adjusted", "underlying", "comparable",
    "reported", "last", "previous", "prior", "year", "years", "ago", "earlier", "same", "period", "quarter",
    "quarters", "month", "half", "expected", "estimate", "estimates", "expectation", "expectations",
    "consensus", "forecast", "forecasts", "forecasted", "analyst", "analysts", "street", "poll", "about",
    "around", "approximately", "some", "roughly", "nearly", "almost", "just", "over", "under", "its", "their",
    "level", "levels", "figure", "est", "factset", "lseg", "refinitiv", "zacks", "indicated", "marketed",
    "guided", "range", "close", "closing", "price", "s", "monday", "tuesday", "wednesday", "thursday",
    "friday", "yesterday", "exp", "per", "share", "own", "for", "guidance", "target", "targeted"
]) | _LOSS_WORDS | _PROFIT_WORDS  # fmt: skip
_RATES_OF_INTEREST = frozenset(["interest", "policy", "mortgage", "borrowing", "lending", "funds", "repo", "key"])
_QUALIFIERS = frozenset(["before", "after", "excluding", "ex", "less"])
# Subjects that are neither profit, loss nor cost: a higher one is simply higher ("price target raised to $20
# from $15" in "loss-making Rivian gets ..." is no loss).
_PLAIN = frozenset([
    "target", "targets", "stake", "dividend", "dividends", "price", "shares", "rating", "ratio", "savings",
    "saving", "synergies", "synergy"
])  # fmt: skip
_MONTHS = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?\s+$"
)  # a day after a month's name is a date (a month's: "margin 3" and "declined 120" are no dates)
# Words a stop abbreviates: no sentence ends after them ("est.", "Inc.", "Jan. 5"), nor after one letter ("U.S.")
_ABBREVIATIONS = frozenset(
    ["est", "approx", "inc", "corp", "co", "ltd", "vs", "jr", "st", "dr", "mr", "ms", "jan", "feb", "mar",
     "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "plc", "bhd", "pty", "bros", "dept", "govt"]
)  # fmt: skip
_WORD = re.compile(r"[a-z]+")
_END = re.compile(r"[.;!?](?=\s|$)")  # a sentence's or clause's end (not a decimal point)
_BREAK = re.compile(r"[,;:()]|\b(?:as|while|but|amid|despite|although|though|whereas)\b")
QUALIFIED = 3  # words after a qualifier that it takes ("before interest and taxes")
# The words before A (within its clause) that say what A measures, the nearest first: 8 missed the subject of
# "Vacancy at the REIT's Manhattan towers dropped to 8% from 14%" (fresh26); 16 changed no other labeled text
LEAD = 16
SAME = 0.01  # figures within 1 % of the larger are about the same: no news either way
MAX_GAP = 6  # words between the comparing word and B
REACH = 160  # characters looked at around a comparing word (a text of many figures stays linear)
_RANGE = re.compile(r"\s*(?:-|–|to)\s*")
_CLOSE = re.compile(r"\s*\)")
_TO = re.compile(r"\s*to\b(?=[^.,;:()]{0,16}\d)")  # "from 10 % to 12 %", not "from $0.48 to preserve capital"
MAX_BETWEEN = 12  # words between A and the comparing word


@dataclass(frozen=True)
class Figure:
    value: float
    kind: str  # "amount", "percent", "points" or "number"
    scale: float  # what mn, bn or thousand multiplied it by
    start: int
    end: int


# "flat" or "unchanged" is a change of 0 %: "sales were flat, versus guidance for a 3% increase" (fresh40)
_FLAT = re.compile(r"\b(?:flat|unchanged)\b")


def _figures(text: str) -> Iterator[Figure]:
    if "flat" not in text and "unchanged" not in text:
        yield from _numbers(text)
        return
    flat = [Figure(0.0, "percent", 1.0, m.start(), m.end()) for m in _FLAT.finditer(text)]
    yield from sorted([*flat, *_numbers(text)], key=lambda f: f.start)


def _numbers(text: str) -> Iterator[Figure]:
    for m in _FIGURE.finditer(text):
        negative = bool(m["open"] and m["cur"])  # "$(0.12)"; "(5.4)" is the year before, a plain figure
        digits = re.sub(r"[,\s]", "", m["num"]).replace("−", "-").replace("–", "-")
        value = -float(digits) if negative else float(digits)
        unit = (m["scale"] or "").strip()
        scale = _SCALES.get(unit, 1.0)
        if not math.isfinite(value * scale):  # 400 digits: inf, which compared as no figure does (a review)
            continue
        if unit in _PERCENT:
            kind = "percent"
        elif unit in _POINTS:
            kind = "points"
        elif m["cur"] or unit:
            kind = "amount"
        elif value.is_integer() and 1900 <= abs(value) <= 2100 and m["num"].isdigit():
            continue  # a year ("2,000 users" is none)
        elif _MONTHS.search(text, max(0, m.start() - 12), m.start()):
            continue  # a day: "September 28"
        else:
            kind = "number"
        start, end = (m.start(), m.end()) if negative or not m["open"] else (m.start("num"), m.end("num"))
        yield Figure(value * scale, kind, scale, start, end)


def sentence_ends(text: str) -> list[int]:
    """Where sentences and clauses of the lower-case `text` end (just after the mark): a stop not after an
    abbreviation ("est.", "Inc.") or a single letter ("u.s."), a semicolon, "!" or "?"."""
    ends = []
    for m in _END.finditer(text):
        word = _WORD.findall(text[max(0, m.start() - 8) : m.start()])
        numbered = (
            word[-1:] == ["no"] and text[m.end() : m.end() + 2].strip()[:1].isdigit()
        )  # "No. 3", not "lol no."
        abbreviated = word and (word[-1] in _ABBREVIATIONS or len(word[-1]) == 1 or numbered)
        if m.group() == "." and abbreviated and text[m.start() - 1].isalpha():
            continue
        ends.append(m.end())
    return ends


class _Reader:
    """One text's figures and clause ends, found once; each comparing word is then read in O(log n)."""

    def __init__(self, text: str, is_cost: Callable[[str], bool], direction: Callable[[str], int]) -> None:
        self.original, self.text = text, text.lower()
        self.is_cost, self.direction = is_cost, direction
        self.figures = _unit_written_once(self.text, list(_figures(self.text)))
        self.starts = [f.start for f in self.figures]
        self.ends = [f.end for f in self.figures]
        self.stops = sentence_ends(self.text)

    def _stopped(self, start: int, end: int) -> bool:
        """Whether a sentence or clause ends between `start` and `end`."""
        i = bisect_right(self.stops, start)
        return i < len(self.stops) and self.stops[i] <= end

    def metric(self, figure: Figure) -> tuple[str | None, list[str]]:
        """What A measures ("loss", "profit", "cost" or None) from the last LEAD words of its clause before it,
        and those words."""
        i = bisect_right(self.stops, figure.start)
        lead = self.text[max(self.stops[i - 1] if i else 0, figure.start - REACH) : figure.start]
        breaks = list(_BREAK.finditer(lead))
        if breaks:
            lead = lead[breaks[-1].end() :]
        words = _WORD.findall(lead)[-LEAD:]
        return _metric(words, self.is_cost), words

    def _middle(self, index: int, figure: Figure, before: bool) -> Figure:
        """A range's middle where `figure` ends (A) or starts (B) one: "$1.10-$1.20", "$21 to $23"."""
        other = index - 1 if before else index + 1
        if not 0 <= other < len(self.figures):
            return figure
        pair = self.figures[other]
        first, second = (pair, figure) if before else (figure, pair)
        if pair.kind != figure.kind or not _RANGE.fullmatch(self.text, first.end, second.start):
            return figure
        middle = (pair.value + figure.value) / 2
        return Figure(middle, figure.kind, figure.scale, first.start, second.end)

    def signed(self, figure: Figure, metric: str | None, before: list[str], after: str) -> float:
        """The figure's value, negative for a loss or for a change that fell: "fell 5 %", "fell by 5 %" and
        "a 2 % decline", not "fell to 5 %" (a level)."""
        if metric == "loss":
            return -abs(figure.value)
        if figure.kind in ("percent", "points") and figure.value > 0 and self.moved(before, after) < 0:
            return -figure.value
        return figure.value

    def moved(self, before: list[str], after: str) -> int:
        """-1 where the word before a change ("fell 5 %", "fell by 5 %") or right after it ("a 2 % decline") is a
        falling one, +1 a rising one, 0 neither."""
        word = before[-2] if len(before) > 1 and before[-1] == "by" else (before[-1] if before else "")
        words = [word, *_WORD.findall(after)[:1]]
        directions = [self.direction(w) for w in words]
        return -1 if any(d < 0 for d in directions) else 1 if any(d > 0 for d in directions) else 0

    def read(self) -> Iterator[tuple[str, int, frozenset[str]]]:
        used: set[int] = set()  # figures already read as B: not A of the next comparison
        for marker in _COMPARING.finditer(self.text):
            a_index = bisect_right(self.ends, marker.start()) - 1
            b_index = bisect_left(self.starts, marker.end())
            if a_index < 0 or b_index >= len(self.figures) or a_index in used:
                continue
            a, b = self.figures[a_index], self.figures[b_index]
            if marker.start() - a.end > REACH or b.start - marker.end() > REACH:
                continue
            between, gap = self.text[a.end : marker.start()], self.text[marker.end() : b.start]
            if self._stopped(a.end, b.start):
                continue
            bracket = marker.group() == "("
            if bracket:
                if between.strip() or not _CLOSE.match(self.text, b.end):
                    continue  # "EUR 74.2 mn (31.5)": the bracket right after A, holding B alone
                if b.kind == "number" and a.kind != "number":
                    b = Figure(b.value * a.scale, a.kind, a.scale, b.start, b.end)  # "(31.5)": A's unit
            elif marker.group() == "from" and _TO.match(self.text, b.end):
                continue  # "from 10 % to 12 %": B is where a change started, not what A is compared with
            elif marker.group() == "," and _LATER.match(self.text, b.end):
                continue  # "revenue $10bn in Q3, consensus $11bn for Q4": another period
            gap_words = _WORD.findall(gap)
            if len(_WORD.findall(between)) > MAX_BETWEEN or len(gap_words) > MAX_GAP:
                continue
            if any(w not in _CONNECTING for w in gap_words):
                continue  # "raises $100 million from SoftBank at a $2 billion valuation"
            if a.kind != b.kind or (a.kind == "amount" and _apart(a, b)):
                continue
            a, b = self._middle(a_index, a, before=True), self._middle(b_index, b, before=False)
            metric_a, lead = self.metric(a)
            named_b = _metric(gap_words, self.is_cost)
            if metric_a == "plain" and named_b not in (None, "plain"):
                continue  # "a dividend of $1 per share against per share earnings of $2": two subjects
            used.add(b_index)
            named_a, after_b = _named_after(between, a), _named_after(self.text[b.end : b.end + REACH], b)
            metric_a = named_a or metric_a
            metric_b = after_b or named_b or metric_a
            value_a = self.signed(a, metric_a, lead, between)
            tail = self.text[b.end : b.end + 24]
            value_b = self.signed(b, metric_b, gap_words, tail)
            if (
                a.value > 0 > value_a
                and value_b > 0
                and not (named_b or after_b)
                and not self.moved(gap_words, tail)
            ):
                value_b = -value_b  # "a 1% decline versus the 4% that was feared": B is a fall too, unless said
            if abs(value_a - value_b) <= SAME * max(abs(value_a), abs(value_b)):
                continue
            direction = 1 if value_a > value_b else -1
            subjects = frozenset(
                lead + gap_words + [w for w in (named_a, after_b) if w] + _WORD.findall(between)[:1]
            )
            yield self.original[a.start : b.end], -direction if metric_a == "cost" else direction, subjects


def _unit_written_once(text: str, figures: list[Figure]) -> list[Figure]:
    """`figures`, where a plain number opens a range whose other end has a unit ("3-6%", "EUR 4.0-4.2 bn"), with
    that number in the same unit: the range then counts as its middle (`_Reader._middle`)."""
    out = list(figures)
    for k in range(len(out) - 1):
        first, second = out[k], out[k + 1]
        if first.kind == "number" and second.kind != "number" and _RANGE.fullmatch(text, first.end, second.start):
            out[k] = Figure(first.value * second.scale, second.kind, second.scale, first.start, first.end)
    return out


def _apart(a: Figure, b: Figure) -> bool:
    """Two amounts a thousand times apart with a scale on one only: a total beside a figure per share."""
    return (a.scale == 1.0) != (b.scale == 1.0) and max(abs(a.value), abs(b.value)) > 1000 * max(
        min(abs(a.value), abs(b.value)), 1e-9
    )


def _named_after(text: str, figure: Figure) -> str | None:
    """ "loss" or "profit" where the word right after an amount names it ("a $61 million outflow", "EUR 2.7 mn
    loss"): it says what that figure is, whatever the words before said of the other."""
    if figure.kind != "amount":
        return None
    word = _WORD.match(text.lstrip())
    if word is None:
        return None
    return "loss" if word.group() in _LOSS_WORDS else "profit" if word.group() in _PROFIT_WORDS else None


def _metric(words: list[str], is_cost: Callable[[str], bool]) -> str | None:
    """What the figure after `words` measures, by the last word that says: "loss", "profit", "cost", "plain" (a
    target, a dividend, savings: a higher one is simply higher) or None.
    Words just after "before", "after" or "excluding" qualify another: "profit before taxes" is a profit."""
    qualified = {k + d for k, w in enumerate(words) if w in _QUALIFIERS for d in range(1, QUALIFIED + 1)}
    for k in reversed(range(len(words))):
        word = words[k]
        if k in qualified:
            continue
        if k and is_cost(f"{words[k - 1]} {word}"):
            return "cost"  # "cash burn", "combined ratio"
        if word in _PLAIN:
            return "plain"
        if word in _LOSS_WORDS:
            return "loss"
        if word in _PROFIT_WORDS:
            return "profit"
        if word in ("rate", "rates"):
            if k and words[k - 1] in _RATES_OF_INTEREST:
                return "cost"
            continue  # an occupancy or growth rate: higher is better, as for any figure
        if is_cost(word):
            return "cost"
    return None


def compared(
    text: str, is_cost: Callable[[str], bool], direction: Callable[[str], int] = lambda _: 0
) -> Iterator[tuple[str, int, frozenset[str]]]:
    """Each comparison of two figures in `text`: (its words, +1 up or -1 down as news for the reader, the
    words that say what was compared). `direction` is +1 for a rising word, -1 for a falling one."""
    yield from _Reader(text, is_cost, direction).read()
