"""Two figures compared in one sentence: which way the news goes, and what is not a comparison."""

from __future__ import annotations

import pytest

from investiq.core.comparisons import compared
from investiq.core.finbert import LABELS
from investiq.core.lexicon import FinanceLexicon


def costly(word: str) -> bool:
    return word in {"expenses", "debt", "costs", "unemployment"}


def signs(text: str) -> list[int]:
    return [sign for _, sign in compared(text, costly)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Operating profit was EUR 4.2 mn, compared with an operating loss of EUR 1.3 mn a year earlier.", 1),
        ("Net loss was USD 3.2 million, compared with a net loss of USD 7.9 million.", 1),  # a loss narrowed
        ("Net loss of $9 million versus $4 million in the year-ago quarter", -1),  # B is a loss too
        ("Diluted EPS was -0.05 against 0.12 in the comparison period", -1),
        ("Cash flow was SEK -12 million, compared to a positive SEK 40 million", -1),
        ("Operating expenses rose to EUR 31 mn from EUR 27 mn", -1),  # a cost up
        ("Net debt fell to GBP 120 mn from GBP 180 mn", 1),  # a cost down
        ("Despite higher costs, operating profit rose to EUR 5 mn from EUR 4 mn", 1),  # the nearest subject
        ("Gross margin was 41.2% versus 39.8% last year", 1),
        ("Revenue reached EUR 1.2 bn, compared to EUR 980 mn", 1),  # scales
        ("Q2 EPS $1,205 vs. $1,150 est.", 1),  # "Q2" is no figure, thousands separators
        ("Sales were EUR 5 mn in 2025 compared to EUR 6 mn in 2024", -1),  # years are no figures
        ("Order intake rose to SEK 812 million (SEK 640 million).", 1),  # Nordic: last year's in brackets
        ("Operating profit EUR 3.1 mn (5.4)", -1),  # ... with A's unit
        ("Operating loss EUR 2.0 mn (EUR 3.5 mn)", 1),
        ("Free cash flow was an outflow of $30m, compared with an inflow of $55m", -1),
        ("Profit before taxes was NOK 410 million, versus NOK 290 million", 1),  # a profit, not a tax
        ("Earnings before interest and taxes came to EUR 12 mn from EUR 15 mn", -1),
        ("Tax expenses rose to EUR 9 mn from EUR 6 mn", -1),  # a cost
    ],
)
def test_a_comparison_reads_which_way_the_figure_went(text: str, expected: int):
    assert signs(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Revenue in 2025 compared to 2024",  # years only
        "Shares rose 5% from $10",  # a percentage against an amount
        "The company received an order worth EUR 40 mn from a customer in Chile",  # nothing after "from"
        "Sales were EUR 5 mn. From 2026 the company reports in dollars, 3 times a year",  # another sentence
        "Margin was 12% against 12% a year earlier",  # unchanged
        "Capex was USD 40.2 million, compared with USD 41.0 million a year earlier",  # within 3 %: the same
        "The company employs some 1,200 people in 11 countries",
        "Comparable sales grew 4 % in the quarter, and the company expects growth of 2 % to 3 % for the year",
        "Nvidia (NVDA) shares rise 3%",  # a ticker in brackets
        "Revenue EUR 5 mn (up 10 %)",  # a percentage in brackets after an amount
        "Net sales EUR 40 mn, operating profit (EBIT) EUR 4 mn",  # the bracket is not right after a figure
    ],
)
def test_what_is_not_a_comparison(text: str):
    assert signs(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Net loss totalled USD 2.1 million, compared with USD 6.4 million in the prior year.", "positive"),
        ("Adjusted EPS came in at $0.41 versus $0.58 a year ago", "negative"),
        ("The board proposes a dividend of EUR 1.10 per share against EUR 0.95 for the previous year", "positive"),
        ("The group recorded a net loss of $80 million, against net income of $12 million", "negative"),
    ],
)
def test_the_lexicon_reads_the_comparison_as_the_news(text: str, expected: str):
    """The loss words of a comparison are its subject, not bad news of their own: a narrower loss is good."""
    lexicon = FinanceLexicon()
    assert LABELS[int(lexicon.probabilities(text).argmax())] == expected
