"""Two figures compared in one sentence: which way the news goes, and what is not a comparison."""

from __future__ import annotations

import time

import pytest

from investiq.core.comparisons import compared
from investiq.core.finbert import LABELS
from investiq.core.lexicon import FinanceLexicon

LEXICON = FinanceLexicon()  # its cost-like subjects and rising and falling words


def signs(text: str) -> list[int]:
    return [sign for _, sign, _ in compared(text, LEXICON.is_cost, LEXICON.direction)]


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
        # found in review: changes, rates, clauses, ranges, scales, accountants' brackets, abbreviations
        ("Comparable sales declined 3% against a 1% rise expected", -1),  # a change after a falling word
        ("Industrial output shrank 2% versus a 0.5% contraction forecast", -1),  # ... or before one
        ("Gross margin fell 80 bps versus 30 bps expected", -1),
        ("Gearing fell to 37% from 58%", 1),  # "fell to": a level, and gearing a cost
        ("Hotel occupancy rate rose to 88% from 80%", 1),  # a rate that is not a cost
        ("The average mortgage rate rose to 7.1% from 6.6%", -1),  # a rate of interest is
        ("Despite a quarterly loss, the company raised its dividend to $0.50 from $0.40", 1),  # A's own clause
        ("Loss-making carmaker gets price target raised to $20 from $15", 1),
        ("Guides Q3 revenue $4.0bn-$4.2bn, versus $4.5bn expected", -1),  # a range's middle
        ("Raises organic growth outlook to 6%-8% from 4%-6%", 1),  # the dash is no minus
        ("Guides Q3 gross margin 3-6% vs 5% expected", -1),  # the unit written once: a range of percentages
        ("Sees revenue EUR 4.0-4.2 bn vs EUR 4.5 bn expected", -1),
        ("Net interest margin 3.1 versus 2.8 a year earlier", 1),  # "margin 3.1" is no day of March
        ("Revenue rose to $1.2 bln from $900 mln", 1),
        ("Net profit at Rs 9,800 crore vs Rs 1.1 lakh crore", -1),
        ("Net sales SEK 11 987 m (12 345)", -1),  # Nordic thousands
        ("Loss per share $(0.12) vs $(0.08)", -1),  # accountants' negatives
        ("Q3 EPS $1.12 vs. est. $1.04", 1),  # "est." ends no sentence
        ("EPS of $1.05 vs 98 cents", 1),
        ("Revenue fell to $4bn from $6bn, vs. estimates of $4.5bn", -1),  # $6bn is B once, never A as well
        ("The offer of $45 per share compares with Friday's close of $34.60", 1),
        ("EPS EUR 0.31, compared with a loss per share of EUR 0.12", 1),  # "per share" between: B is a loss
        # wire flashes: a comma before the estimate
        ("ACME 3Q ADJ EPS 1.23, EST. 1.10", 1),
        ("Globex sees FY revenue $4.1B-$4.3B, est. $4.6B", -1),
        ("Initech Q1 comparable sales +2.1%, consensus +3.0%", -1),
        ("Cost savings of $50M, est. $40M", 1),  # savings are no cost
        ("Write-downs of $2bn, est $1bn", -1),  # write-downs are
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
        "Capex was USD 40.2 million, compared with USD 40.5 million a year earlier",  # within 1 %: the same
        "The company employs some 1,200 people in 11 countries",
        "Comparable sales grew 4 % in the quarter, and the company expects growth of 2 % to 3 % for the year",
        "Nvidia (NVDA) shares rise 3%",  # a ticker in brackets
        "Revenue EUR 5 mn (up 10 %)",  # a percentage in brackets after an amount
        "Net sales EUR 40 mn, operating profit (EBIT) EUR 4 mn",  # the bracket is not right after a figure
        "Startup raises $100 million from SoftBank at a $2 billion valuation",  # "from" a name
        "Sees FY EPS $2.10-$2.20 vs. consensus $2.15",  # the range's middle is the consensus
        "The company said margin was 9% last year and lifts its goal from 10% to 12%",  # "from 10% to 12%"
        "Net income rose to $2.1 billion, or $1.40 a share, from $1.7 billion",  # a share's figure, a total
        "Net profit fell to EUR 5.2 mn (EUR 0.21 per share)",
        "For the 13 weeks ended September 28, 2025 compared to the 13 weeks ended September 29, 2024",
        "Sales rose 4% (6% in local currencies)",  # the bracket holds more than a figure
        "Sales rose to $5B, estimates show growth of 4% next year",  # an amount, then a percentage
        "Hooli 4Q EPS $1.20, consensus $1.19",  # within 1 %
        "Revenue hit $10bn in Q3, consensus $11bn for Q4",  # another period
        "Dividend of $1 per share against per share earnings of $2",  # two subjects
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
        # a move between the figures is what the comparison reads: its clause has lost the loss it moves
        ("The group posted a net loss of $12 million, narrowing from $96 million a year earlier", "positive"),
    ],
)
def test_the_lexicon_reads_the_comparison_as_the_news(text: str, expected: str):
    """The loss words of a comparison are its subject, not bad news of their own: a narrower loss is good."""
    lexicon = LEXICON
    assert LABELS[int(lexicon.probabilities(text).argmax())] == expected


def test_a_comparison_drops_only_its_own_subject_s_weight():
    """Layoffs stay bad news beside revenue compared; the loss compared loses its own weight."""
    lexicon = LEXICON
    items = {
        i.text: i.value
        for i in lexicon.evidence("Automaker announces 3,000 layoffs as revenue rises to $9bn from $8bn").items
    }
    assert items["layoffs"] < 0
    items = {i.text: i.value for i in lexicon.evidence("Net loss was $2 million, compared with $6 million").items}
    assert "loss" not in items


def test_a_move_counts_once_in_a_comparison_only_right_before_its_comparing_word():
    """ "narrowing from" is what the comparison reads; a move with its own subject between the figures is not
    ("costs soared, compared with"), and a repeated comparison is found where it repeats."""
    lexicon = LEXICON
    items = [i.text for i in lexicon.evidence("Net loss of $12 million, narrowing sharply from $96 million").items]
    assert "narrowing" not in items
    once = "net loss $12 million, narrowing from $96 million"
    doubled = f"Q4 {once}; full-year {once}"
    assert "narrowing" not in [i.text for i in lexicon.evidence(doubled).items]
    for text, move in [
        ("Net sales EUR 50 mn, and costs soared, compared with EUR 45 mn", "soared"),
        ("Revenue was $5.1 billion, as margins collapsed, compared with $4.9 billion a year earlier", "collapsed"),
    ]:
        values = {i.text: i.value for i in lexicon.evidence(text).items}
        assert values[move] < 0 and LABELS[int(lexicon.probabilities(text).argmax())] == "negative", values


@pytest.mark.parametrize("text", ["1 from " * 10_000, "(1) " * 5_000, "EUR 5 mn vs EUR 4 mn, " * 2_000])
def test_a_long_text_of_many_figures_is_read_in_linear_time(text: str):
    """Each comparing word looks at most REACH characters around it: ~0.1 s here, where the first version
    took 29 s on the first text (every comparing word rescanned the text before it)."""
    start = time.perf_counter()
    signs(text)
    assert time.perf_counter() - start < 10  # a bound a busy machine keeps by far, a quadratic reading does not


def test_a_figure_too_large_for_a_float_is_no_figure():
    """400 digits against 399 overflowed to inf against inf and read negative 0.77 (a review)."""
    from investiq.core.lexicon import FinanceLexicon

    lexicon = FinanceLexicon()
    evidence = lexicon.evidence("Revenue " + "9" * 400 + " vs " + "9" * 399)
    assert evidence.explain() == "(no evidence)"
