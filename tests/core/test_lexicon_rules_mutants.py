"""Kill tests of a mutation audit of the finance lexicon's tokenizer (investiq/core/lexicon_text.py), data file
parser and stemming (investiq/core/lexicon_terms.py) and clause rules (investiq/core/lexicon_rules.py): each test
fails with the mutant(s) its docstring names applied, and passes on the code as it is. Short made-up texts read by
the shipped lexicon, small lexicon files written for the test, or direct calls of the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from investiq.core.errors import ArtifactError
from investiq.core.lexicon import FinanceLexicon
from investiq.core.lexicon_rules import (
    WINDOW,
    clause_weights,
    dated,
    first_opener,
    negation_reach,
    opener,
    retraction,
)
from investiq.core.lexicon_terms import Lexicon
from investiq.core.lexicon_text import tokenize
from tests.core.test_lexicon import label, lexicon  # noqa: F401  (lexicon: a fixture)


def _retracted(text: str) -> int | None:
    """Where the retraction of the text's one clause begins (`retraction` over all its tokens)."""
    tokens = tokenize(text)
    return retraction(tokens, 0, len(tokens))


def _custom(tmp_path: Path, text: str) -> Lexicon:
    path = tmp_path / "lexicon.txt"
    path.write_text(text, encoding="utf-8")
    return Lexicon.load(path)


# -- lexicon_text.py ---------------------------------------------------------------------------------------------


def test_a_curly_apostrophe_s_is_dropped_like_a_straight_one() -> None:
    """lexicon_text.py:_APOSTROPHE_S: `['’]s` -> `'s` (a typographic "Moody’s" left a stray "s" token)."""
    assert tokenize("Moody’s didn’t cut") == ["moody", "did", "not", "cut"]


def test_an_unspaced_em_or_en_dash_breaks_the_clause() -> None:
    """lexicon_text.py:_DASH: `\\s[-–—]+\\s|[–—]` -> `\\s[-–—]+\\s` ("fall—profit" read as one clause)."""
    assert tokenize("Shares fall—profit rises") == ["shares", "fall", ",", "profit", "rises"]
    assert tokenize("Shares fall–profit rises") == ["shares", "fall", ",", "profit", "rises"]


def test_an_up_triangle_is_up_and_a_down_triangle_down() -> None:
    """lexicon_text.py:tokenize: the sign's set `"+▲"` -> `"+"` ("▲ 9%" read as down)."""
    assert tokenize("DDOG ▲ 9%, peers ▼ 2%") == ["ddog", "up", "9", ",", "peers", "down", "2"]


def test_a_minus_right_after_another_dash_is_no_sign() -> None:
    """lexicon_text.py:_SIGNED: `-` dropped from the lookbehind (the second "-" of an unspaced "--" dash read
    as a sign: "fell--5%" said "fell down 5", the fall counted twice)."""
    assert tokenize("Shares fell--5% in May") == ["shares", "fell", "5", "in", "may"]


def test_a_thousands_separator_joins_one_figure_and_breaks_no_clause(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_text.py:tokenize: the `_THOUSANDS` substitution dropped ("12,000" cut the clause at its comma, so
    the cost no longer governed the move: "layoffs ... ease" read negative)."""
    assert tokenize("Layoffs of 12,000 workers ease") == ["layoffs", "of", "12000", "workers", "ease"]
    assert label(lexicon, "Layoffs of 12,000 workers ease")[0] == "positive"
    assert label(lexicon, "Losses of 1,200 million narrow")[0] == "positive"


def test_an_english_function_word_keeps_foreign_names_english(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_text.py:not_english: `and _ENGLISH.isdisjoint(tokens)` dropped (two Spanish articles in place
    names made an English text foreign: no evidence)."""
    evidence = lexicon.evidence("Los Angeles and Las Vegas celebrate")
    assert not evidence.not_english and evidence.positive > 0


# -- lexicon_terms.py --------------------------------------------------------------------------------------------


def test_a_data_file_term_in_capitals_matches_lower_case_text(tmp_path: Path) -> None:
    """lexicon_terms.py:Lexicon.load: `.lower()` of a line dropped ("Moonshot" in the file never matched)."""
    custom = FinanceLexicon(_custom(tmp_path, "+ 3.0 Moonshot\n"))
    assert label(custom, "A MOONSHOT quarter")[0] == "positive"


def test_a_hedge_of_exactly_one_is_accepted(tmp_path: Path) -> None:
    """lexicon_terms.py:Lexicon.load: `0 < weight <= 1` -> `0 < weight < 1` (a hedge that scales by 1 refused)."""
    lex = _custom(tmp_path, "? 1 reportedly\n+ 2.0 gain\n")
    assert lex.terms[("reportedly",)].hedge == 1.0
    with pytest.raises(ArtifactError, match=r"a hedge scales by a factor in \(0, 1\], got 1.5"):
        _custom(tmp_path, "? 1.5 reportedly\n")


def test_an_ignored_word_does_not_take_the_forms_built_on_it(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_terms.py:Lexicon.load: vocabulary `kind not in "@x"` -> `"@"` ("x 0 please" stemmed "pleased" into
    it, and "Investors pleased" lost VADER's positive word)."""
    assert lexicon.lexicon.stem("pleased") == "pleased"
    (item,) = lexicon.evidence("Investors pleased").items
    assert item.text == "pleased" and item.source == "vader" and item.value > 0


def test_a_wildcard_never_stands_for_punctuation(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_terms.py:_wild: `not word.isalnum()` dropped (a comma was the * of "cut * buyback" and "miss *
    estimate": "Bank cuts, buybacks resume" read negative)."""
    assert lexicon.evidence("Retailer misses, estimates rise").explain() == "misses -2.0 | rise +1.5"
    assert label(lexicon, "Bank cuts, buybacks resume")[0] == "positive"


def test_a_three_letter_word_ending_in_ly_is_no_adverb(tmp_path: Path) -> None:
    """lexicon_terms.py:_wild: `len(word) > 3` -> `> 2` ("fly" stood for "*ly")."""
    lex = _custom(tmp_path, "- 3.0 sales *ly crater\n")
    assert lex.match(["sales", "fly", "crater"], 0) is None
    found = lex.match(["sales", "duly", "crater"], 0)
    assert found is not None and found[0] == 3 and found[1].valence == -3.0


def test_a_moves_direction_is_its_kind_whatever_the_weights_sign(tmp_path: Path) -> None:
    """lexicon_terms.py:_apply: `term.move * abs(weight)` -> `term.move * weight` ("v -2.0" became a rise)."""
    lex = _custom(tmp_path, "v -2.0 slump\n^ -1.5 soar\n")
    assert (lex.terms[("slump",)].move, lex.terms[("slump",)].valence) == (-1, -2.0)
    assert (lex.terms[("soar",)].move, lex.terms[("soar",)].valence) == (1, 1.5)


def test_oes_is_stripped_to_o(lexicon: FinanceLexicon, tmp_path: Path) -> None:  # noqa: F811
    """lexicon_terms.py:_ES_AFTER: "o" dropped ("goes" no longer "go": "goes into administration" lost its verb;
    "vetoes" never "veto")."""
    assert lexicon.lexicon.stem("goes") == "go"
    assert lexicon.evidence("Retailer goes into administration").explain() == "goes into administration -3.0"
    assert _custom(tmp_path, "- 2.0 veto\n").stem("vetoes") == "veto"


def test_a_word_ending_in_ss_is_no_plural() -> None:
    """lexicon_terms.py:_strippings: `not word.endswith("ss")` dropped ("press" stemmed to "pres"). Not seen with
    the shipped file (no word of it is an -ss word less its s); a lexicon that knows "pres" shows it."""
    lex = Lexicon({}, {}, frozenset({"pres", "bos"}), "")
    assert [lex.stem(w) for w in ("press", "boss")] == ["press", "boss"]
    assert lex.stem("bos") == "bos"


def test_a_file_of_comments_only_is_refused_as_an_artifact_error(tmp_path: Path) -> None:
    """lexicon_terms.py:Lexicon.load: the `if not terms` check dropped (max() of nothing: a bare ValueError)."""
    with pytest.raises(ArtifactError, match="has no terms"):
        _custom(tmp_path, "# nothing here\n\n")


# -- lexicon_rules.py --------------------------------------------------------------------------------------------


def test_a_clause_opened_by_though_is_conceded(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:CONCEDING: "though" dropped ("Shares fall though profit rises" read positive)."""
    assert label(lexicon, "Shares fall though profit rises")[0] == "negative"


def test_not_as_takes_a_comparison_of_three_words(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:not_as: the reach for the second "as" two words shorter (`min(i + 4, ...)`: "not as big a
    blow as feared": the second "as" missed, "feared" read as negative evidence; one shorter: the next test)."""
    assert lexicon.evidence("Tariffs not as big a blow as feared").explain() == "(no evidence)"


def test_not_as_passes_over_a_word_of_expectation_three_words_on(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:not_as: `min(second + 4, ...)` -> `min(second + 3, ...)` ("as analysts had feared":
    "feared" counted, the relief read negative)."""
    assert label(lexicon, "Losses were not as bad as analysts had feared")[0] == "positive"
    assert lexicon.evidence("Losses were not as bad as analysts had feared").explain() == "bad +0.9"


def test_not_as_without_expectation_ends_the_clause_at_its_second_as(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:not_as: `else set()` -> `else {second}` (the clause went on past the second "as": the
    comparison's rule dropped the losses' weight and the negator turned "widen" into good news)."""
    text = "Profit not as high as losses widen"
    assert label(lexicon, text)[0] == "negative"
    assert "widen -1.5" in lexicon.evidence(text).explain()


def test_never_reaches_no_emphatic_word_past_a_clause_break(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:superlative: the `BREAKS or not isalnum()` stop dropped ("never recovered, so ..." read
    as a superlative "never so": the negation lost, "recovered" counted as good news)."""
    assert "recovered -1.1" in lexicon.evidence("Profits never recovered, so shares fell").explain()
    assert label(lexicon, "Shares never rebounded; more losses followed")[0] == "negative"


def test_negation_passes_through_four_words_of_expecting_seven_words_on(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:negation_reach: `gap > WINDOW + THROUGH` -> `>=` (an item seven words on, four of them
    "expect to see a", was out of reach: "does not expect to see a fresh big loss" read negative)."""
    assert negation_reach(tokenize("not expect to see a fresh big loss"), 1, 7) == 3
    assert label(lexicon, "Company does not expect to see a fresh big loss")[0] == "positive"


def test_a_verbs_ing_after_a_comma_is_no_move_of_the_cost_before(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:apposed_move: the `endswith("ing")` refusal dropped ("Costs fall, boosting the margin":
    the boost turned around, a tie)."""
    text = "Costs fall, boosting the margin"
    assert lexicon.evidence(text).explain() == "fall +1.5 | boosting +1.5"
    assert label(lexicon, text)[0] == "positive"


def test_a_move_before_a_figure_after_a_comma_is_the_costs(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:apposed_move: `tokens[after].isalpha()` dropped (a figure after the move refused it:
    "Costs soar, up 12%" read "up" as good news)."""
    assert lexicon.evidence("Costs soar, up 12%").explain() == "soar -2.5 | up -1.0"
    assert lexicon.evidence("Costs fall, down 3% on the year").explain() == "fall +1.5 | down +1.0"


def test_fails_to_materialise_retracts_what_comes_before(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:retraction: "fails" dropped from the forms of fail ("The recovery fails to materialise":
    the recovery read as good news)."""
    explained = lexicon.evidence("The recovery fails to materialise").explain()
    assert explained == "recovery -0.7 | fails to materialise -0.5"


def test_that_wasnt_retracts_from_that() -> None:
    """lexicon_rules.py:retraction: `return i - 2` -> `i - 1` for "that wasn't" (the retraction said to begin at
    "was", not "that"; no text shows it, as "that" and "was" carry no evidence)."""
    assert _retracted("The rally that wasn't") == 2
    assert _retracted("The rally that was not to be") == 2


def test_a_negated_clause_before_but_is_a_correction_not_conceded(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:clause_weights: the negator check before "but" dropped ("no longer expected to decline but
    to remain flat": the negated decline counted half)."""
    whole = lexicon.evidence("Sales are no longer expected to decline but to remain flat")
    alone = lexicon.evidence("Sales are no longer expected to decline")
    assert whole.positive == pytest.approx(alone.positive) and whole.positive > 0


def test_two_boosters_of_one_item_add_up(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon_rules.py:clause_boosts: `out.get(target, 0.0) + boost` -> `boost` (the second booster replaced the
    first: "fall very sharply" weighed as "fall sharply")."""
    (both,) = lexicon.evidence("Shares fall very sharply").items
    (sharply,) = lexicon.evidence("Shares fall sharply").items
    (very,) = lexicon.evidence("Shares fall very").items
    (plain,) = lexicon.evidence("Shares fall").items
    assert both.value - plain.value == pytest.approx((sharply.value - plain.value) + (very.value - plain.value))
    assert both.value < min(sharply.value, very.value) < plain.value < 0


def test_every_word_a_not_as_comparison_compares_is_negated(lexicon: FinanceLexicon) -> None:  # noqa: F811
    """lexicon.py:evidence / lexicon_rules.py:not_as: the negator was counted from "not", so the third word of
    "not as X as feared" was out of its reach ("Results not as weak or bad as feared": "bad -1.2", negative 0.47),
    and a four-word X ("much of a blow") was no comparison at all, "feared" counted (negative 0.77 for relief).
    The round's finding; both fail before the fix."""
    text = "Results not as weak or bad as feared"
    assert label(lexicon, text)[0] == "positive", lexicon.evidence(text).explain()
    assert all(item.value > 0 for item in lexicon.evidence(text).items)
    text = "Tariffs not as much of a blow as feared"
    assert "feared" not in lexicon.evidence(text).explain() and label(lexicon, text)[0] != "negative"


# -- stop 69's rules, each at its edges ---------------------------------------------------------------------------


def test_an_ending_retracts_only_where_the_clause_ends_on_it_after_a_form_of_have_or_be() -> None:
    """lexicon_rules.py:retraction: "has ended", "were resolved" at the clause's end retract from the auxiliary;
    not "ended" without one ("the quarter ended", a date), nor an ending the clause goes on past."""
    assert _retracted("The partnership has ended") == 2
    assert _retracted("Problems at the plant were resolved") == 4
    assert _retracted("The quarter ended") is None
    assert _retracted("The partnership has ended talks") is None


def test_what_did_not_arrive_is_retracted_only_at_the_clause_end() -> None:
    """lexicon_rules.py:retraction: "did not arrive" ends the clause it retracts; "did not come until May" is a
    date (tested in test_lexicon), and "did not arrive on time" goes on."""
    assert _retracted("The upgrade did not arrive") == 3
    assert _retracted("The upgrade did not arrive yesterday") is None


def test_no_longer_weighing_retracts_from_no_and_needs_what_it_weighed_on() -> None:
    """lexicon_rules.py:retraction: "no longer weighing on margins" retracts from "no"; a clause that ends on
    "weighing" names nothing it weighed on, and "longer weighing" without "no" is no retraction."""
    assert _retracted("Price cuts are no longer weighing on margins") == 3
    assert _retracted("Price cuts are no longer weighing") is None
    assert _retracted("Price cuts are a longer weighing on margins") is None


def test_a_negated_verb_of_expecting_reaches_its_infinitive_up_to_governed_words() -> None:
    """lexicon_rules.py:negation_reach: with "to" just before the item and a verb of expecting right after the
    negator, the item is within reach up to WINDOW + GOVERNED (9) words from the negator's end; one word more, or
    no "to" before it, and it is not."""
    assert negation_reach(tokenize("not expect a b c d e to rise"), 1, 8) == WINDOW  # gap 8
    assert (
        negation_reach(tokenize("not expect a b c d e f to rise"), 1, 9) == WINDOW
    )  # gap 9: the last within reach
    assert negation_reach(tokenize("not expect a b c d e f g to rise"), 1, 10) > WINDOW  # gap 10
    assert negation_reach(tokenize("not expect a b c d e rise"), 1, 7) > WINDOW  # no "to" before the item
    assert (
        negation_reach(tokenize("not a expect b c d e to rise"), 1, 8) == WINDOW
    )  # the verb may stand one word after the negator
    assert negation_reach(tokenize("not a b expect c d e to rise"), 1, 8) > WINDOW  # ... not two


def test_spans_of_time_open_a_conceded_clause_and_excluding_only_at_the_start() -> None:
    """lexicon_rules.py:opener, first_opener, clause_weights: "two years after" and "after years of" (also at the
    text's start) concede; a bare "after" does not; "excluding" concedes only the text's first clause."""
    assert opener(tokenize("reinstates it, two years after suspending it"), 5) == "years after"
    assert opener(tokenize("After years of losses"), 0) == "years after"
    assert opener(tokenize("rose after the results"), 1) == "after"
    assert first_opener(tokenize("Excluding the gain, profit fell")) == "excluding"
    assert first_opener(tokenize("Profit excluding the gain fell")) == ""
    assert clause_weights(["excluding", ","], [[], []]) == [0.5, 1.0]
    assert clause_weights(["", "years after"], [[], []]) == [1.0, 0.5]
    assert clause_weights(["", "yet", ","], [[], [], []]) == [0.5, 1.0, 1.0]


def test_on_before_a_day_dates_and_ends_no_clause_and_a_refusal_retracts_only_after_was_or_were() -> None:
    """lexicon_rules.py:dated, retraction: "on Friday" is no clause's end ("on" before anything else is), and "was
    not granted" at the clause's end retracts from "not"; "has not approved" or a clause that goes on does not."""
    tokens = tokenize("The sell-off on Friday was overdone")
    assert dated(tokens, 3) and not dated(tokenize("Shares fall on weak sales"), 2)
    assert not dated(tokenize("Shares fall on"), 2)
    assert _retracted("The extension of its exclusivity was not granted") == 6
    assert _retracted("The merger the board has not approved") is None
    assert _retracted("The extension was not granted in time") is None


def test_what_is_no_longer_on_the_table_is_retracted_from_no() -> None:
    """lexicon_rules.py:retraction: "no longer on the table" retracts from "no" wherever the clause goes on after
    it; "on the table" alone is no retraction."""
    assert _retracted("Further rate hikes are no longer on the table for this year") == 4
    assert _retracted("Further rate hikes are on the table") is None


def test_what_was_dropped_is_retracted_with_one_adverb_between_at_most() -> None:
    """lexicon_rules.py:retraction: "has been quietly dropped" retracts from the adverb; two adverbs, or no form of
    have or be before it, and it does not ("shares dropped" is a move)."""
    assert _retracted("The goal has been quietly dropped") == 4
    assert _retracted("The goal was quietly and slowly dropped") is None
    assert _retracted("Shares dropped") is None


def test_what_is_long_gone_no_longer_exists_or_was_a_non_event_is_retracted() -> None:
    """lexicon_rules.py:retraction: "is long gone" (as an adverb would), "no longer exists" and "a non-event" at
    the clause's end retract what comes before; "exists" without "no longer", or a clause going on, does not."""
    assert _retracted("Its winning streak is long gone") == 4
    assert _retracted("The weakness no longer exists") == 2
    assert _retracted("The weakness still exists") is None
    assert _retracted("The restatement was a non-event") == 4
    assert _retracted("The restatement was a non-event for us") is None


def test_what_has_blown_over_is_retracted_only_at_the_clause_end() -> None:
    """lexicon_rules.py:retraction: "have largely blown over" at the clause's end retracts from "blown"; "over"
    without "blown", or a clause that goes on, does not."""
    assert _retracted("The headwinds have largely blown over") == 4
    assert _retracted("The headwinds are over") is None
    assert _retracted("The headwinds have blown over the sector") is None


def test_what_proves_short_lived_is_retracted_after_a_verb_of_seeming_only() -> None:
    """lexicon_rules.py:retraction: "proves short-lived" (or "was") at the clause's end retracts from the verb; a
    short-lived thing named ("a short-lived rally") is no retraction."""
    assert _retracted("The margin squeeze proves short-lived") == 3
    assert _retracted("The rally was short-lived") == 2
    assert _retracted("Shares rose in a short-lived rally") is None
