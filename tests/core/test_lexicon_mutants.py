"""Kill tests of a mutation audit of the finance lexicon (investiq/core/lexicon*.py): each fails with the mutant
its docstring names applied, and passes on the code as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from investiq.core.lexicon import FinanceLexicon
from investiq.core.lexicon_terms import Lexicon
from tests.core.test_lexicon import label, lexicon  # noqa: F401  (lexicon: a fixture)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bank did not report quarterly losses", "positive"),
        ("Drugmaker never received regulatory approval", "negative"),
    ],
)
def test_a_negator_reaches_an_item_three_words_on(lexicon: FinanceLexicon, text: str, expected: str):  # noqa: F811
    """lexicon_rules.py:WINDOW 3 as 2, a negator three words before an item no longer flips it."""
    assert label(lexicon, text)[0] == expected


def test_a_word_only_vader_knows_counts_half_its_valence(lexicon: FinanceLexicon):  # noqa: F811
    """lexicon.py:VADER_WEIGHT 0.5 as 1.0, a word only VADER knows weighed at its full VADER valence."""
    (item,) = lexicon.evidence("Brilliant quarter").items
    assert item.source == "vader"
    assert item.value == pytest.approx(0.5 * SentimentIntensityAnalyzer().lexicon["brilliant"])


def test_a_hedge_scales_the_evidence_of_its_clause(lexicon: FinanceLexicon):  # noqa: F811
    """lexicon.py:FinanceLexicon._read: clause hedge `min` as `max`, so "may"/"reportedly" weaken nothing."""
    (said,) = lexicon.evidence("Shares fall").items
    (hedged,) = lexicon.evidence("Shares may fall").items
    assert hedged.value == pytest.approx(0.6 * said.value) and hedged.value < 0
    assert lexicon.probabilities("Shares may fall")[1] < lexicon.probabilities("Shares fall")[1]


def test_a_booster_after_an_item_reaches_it_across_one_word_not_two(lexicon: FinanceLexicon):  # noqa: F811
    """lexicon_rules.py:clause_boosts: reach back `<= 1` as `<= 2`, "sharply" two words after a move boosts it."""
    assert lexicon.evidence("Shares fell this sharply").explain() == "fell -2.0"
    assert lexicon.evidence("Shares fell this week sharply").explain() == "fell -1.5"


def test_a_bad_word_that_is_no_move_still_gives_a_falling_direction(lexicon: FinanceLexicon):  # noqa: F811
    """lexicon.py:FinanceLexicon.direction: `term.move or valence < 0` as `term.move`, "weak" gives 0."""
    assert [lexicon.direction(w) for w in ("fell", "weak", "miss", "rose", "unchanged")] == [-1, -1, -1, 1, 0]


def test_a_text_half_in_another_script_is_still_read_as_english(lexicon: FinanceLexicon):  # noqa: F811
    """lexicon_text.py:not_english: `* 2 > len` as `>=`, half non-Latin text read as foreign, evidence dropped."""
    evidence = lexicon.evidence("good 好好好好")  # 4 Latin letters, 4 others
    assert not evidence.not_english and evidence.positive > 0


def test_of_two_patterns_as_long_the_one_with_fewer_wildcards_is_matched(tmp_path: Path) -> None:
    """lexicon_terms.py:Lexicon.load: each bucket of patterns sorted by wildcards (stop 69); without it the file's
    order decided, and "cut * * guidance" (bad news) took "cuts its AISC guidance" from "cut * aisc guidance"."""
    path = tmp_path / "lexicon.txt"
    path.write_text("- 2.5 cut * * guidance\n+ 2.0 cut * aisc guidance\n", encoding="utf-8")
    custom = Lexicon.load(path)
    found = custom.match([custom.stem(w) for w in ["cuts", "its", "aisc", "guidance"]], 0)
    assert found is not None and found[1].valence == 2.0
