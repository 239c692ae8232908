"""Finance-aware sentiment without a network: the fallback that answers when FinBERT is not exported.

A text is tokenized (lexicon_text.py), lightly stemmed and matched against the finance lexicon
(investiq/data/finance_lexicon.txt, parsed by lexicon_terms.py: phrases first, longest first), with VADER's
general lexicon (vaderSentiment) for the words the finance lexicon does not know, at half their VADER valence.
Evidence is then read the way VADER reads it, within each clause (punctuation, a sentence's full stop and words
such as "as", "after", "amid" separate clauses; the rules below are in lexicon_rules.py):

    Tesla shares slide after deliveries miss     slide -2.0 (a down-move) | miss -2.0
    Inflation cools more than expected           cool is a down-move and inflation a cost: positive
    Trial fails to meet its main goal            "fail to" negates "meet": x -0.74, as VADER does

    - each negator within three words before an item flips and shrinks it (VADER's N_SCALAR): two undo
      each other ("fails to avoid default");
    - a booster or dampener adds to (or takes from) the size of the next item within three words, or
      of the one just before it ("falls sharply");
    - an up- or down-move is read against the cost-like subject it moves: "losses widen" is bad news,
      "loss narrows" good news, "rising costs" bad; not "default fears send shares plunging" (a verb of
      causing between) or "plunges over losses" (a preposition between);
    - a hedge ("may", "reportedly") scales its clause;
    - a clause opened by "despite", "although" or "two years after", a text's first clause opened by
      "Excluding", and what comes before the last "but", "then" or "yet" (unless it is negated: "not to decline
      but to stay flat"), count half;
    - words of no news ("unchanged", "in line with expectations", "to report") are evidence for neutral;
    - two figures compared ("a loss of EUR 2.1 mn, compared to EUR 4.8 mn") are one piece of evidence, up or
      down (investiq/core/comparisons.py), and the cost-like words of such a text lose their own weight.

Three-class probabilities come from the evidence, never from a fixed confidence. With positive
evidence P, negative N and neutral U, each softly capped at CAP (x -> CAP tanh(x / CAP)):

    logits = (SCALE P, SCALE N, BIAS + NEUTRAL_SCALE U),   probabilities = softmax(logits)

so a text without evidence is neutral at 1 / (1 + 2 exp(-BIAS)) = 0.58, one plain word such as
"rises" gives about 0.75, a clear phrase ("files for bankruptcy") about 0.9, and no positive or negative
answer more than 0.94 (several no-news words: neutral up to 0.99); evidence on both sides splits the
probability between them. The constants were chosen by least log loss on the dev part of
investiq/data/labeled_headlines.csv within two bounds set by design (no evidence: at most 0.6; the most
evidence: at most about 0.95): unbounded, a fit on the very texts the lexicon was refined on only grows
more confident.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core import comparisons, lexicon_rules, lexicon_terms, lexicon_text
from investiq.core.comparisons import compared
from investiq.core.lexicon_rules import (
    BREAKS,
    COMPARES,
    WINDOW,
    Match,
    absorbed_moves,
    apposed_move,
    clause_boosts,
    clause_weights,
    dated,
    first_opener,
    governed_moves,
    negation_reach,
    not_as,
    opener,
    retraction,
    superlative,
)
from investiq.core.lexicon_terms import Lexicon, Term
from investiq.core.lexicon_text import not_english, tokenize

NAME = "lexicon"  # the `model` of the answers the fallback gives (FinBERT's are "finbert")

SCALE = 2.0
BIAS = 1.0
NEUTRAL_SCALE = 2.0
CAP = 2.0
VADER_WEIGHT = 0.5  # a word only VADER knows counts for this share of its VADER valence
N_SCALAR = -0.74  # VADER's negation factor
COMPARED = 1.5  # two figures compared (investiq/core/comparisons.py): as much evidence as a plain move
QUESTION = 0.6  # a text that asks scales its evidence as a hedge does ("may": 0.6)


@dataclass(frozen=True)
class Item:
    """One piece of evidence: the words, and its contribution once read in its clause."""

    text: str
    value: float  # signed, after the clause's subject, boosters, negation and hedges
    neutral: float = 0.0
    source: str = "finance"  # or "vader"


@dataclass(frozen=True)
class Evidence:
    positive: float
    negative: float  # a size, >= 0
    neutral: float
    items: tuple[Item, ...] = ()

    not_english: bool = False  # read as no evidence: the lexicon reads English (`not_english`)

    def explain(self) -> str:
        """Why, in one line: e.g. "slide -2.0 | miss -2.0", or "(no evidence)"."""
        if self.not_english:
            return "(not English: no evidence read)"
        shown = [f"{i.text} {i.value:+.1f}" for i in self.items if i.value]
        shown += [f"{i.text} ={i.neutral:.1f}" for i in self.items if i.neutral]
        return " | ".join(shown) or "(no evidence)"


class FinanceLexicon:
    """Texts -> evidence -> probabilities over LABELS (positive, negative, neutral)."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SentimentIntensityAnalyzer

        self.lexicon = lexicon or _default_lexicon()
        self._vader: dict[str, float] = SentimentIntensityAnalyzer().lexicon
        # "despite" is a negator to VADER; in a headline it only starts another clause
        self._negate = frozenset(w for w in NEGATE if w.isalpha() and w != "despite")
        self._boost = {w: float(b) for w, b in BOOSTER_DICT.items() if " " not in w}
        self.version = f"{self.lexicon.version}+rules-{rules_version()}+vader-{package_version('vaderSentiment')}"

    def evidence(self, text: str) -> Evidence:
        tokens = tokenize(text)
        stems = [self.lexicon.stem(t) for t in tokens]
        clauses: list[list[Match]] = [[]]
        openers = [first_opener(tokens)]  # the word or mark that opened each clause ("" for the first, mostly)
        skip = set()
        i = 0
        while i < len(tokens):
            if i in skip:
                i += 1
                continue
            if superlative(tokens, i):  # "shares have never been higher": a record, not a negation
                i += 1
                continue
            comparing = not_as(tokens, i)
            if comparing is not None:  # "not as bad as feared": the clause goes on, and the negator reaches "bad"
                second, after = comparing
                clauses[-1].append(Match(i, second - i, COMPARES, "rule"))  # "as" and what it compares (`_read`)
                skip |= after
                i += 1
                continue
            found = self.lexicon.match(stems, i)
            if found is not None:
                clauses[-1].append(Match(i, found[0], found[1], "finance"))
                i += found[0]
                continue
            if (tokens[i] in BREAKS and not dated(tokens, i)) or not tokens[i].isalnum():
                clauses.append([])
                openers.append(opener(tokens, i))
            else:
                clauses[-1].append(Match(i, 1, self._vader_term(tokens[i]), "vader"))
            i += 1
        if not any(m.source == "finance" for clause in clauses for m in clause) and not_english(tokens):
            return Evidence(0.0, 0.0, 0.0, not_english=True)  # a finance term read: English, whatever else
        figures = list(compared(text, self.is_cost, self.direction))
        subjects = frozenset(w for _, _, words in figures for w in words)
        absorbed = absorbed_moves(tokens, [span for span, _, _ in figures])
        apposed = [apposed_move(clause, clauses[k - 1], tokens) if k else None for k, clause in enumerate(clauses)]
        # a cost the next clause says is easing ("a $45 million net loss, its narrowest") loses its own weight
        eased_next = [
            at is not None and clause[at].term.valence < 0
            for clause, at in zip([*clauses[1:], []], [*apposed[1:], None], strict=True)
        ]
        items = [
            replace(item, value=item.value * weight) if weight != 1 else item
            for clause, weight, moved, later in zip(
                clauses, clause_weights(openers, clauses), apposed, eased_next, strict=True
            )
            for item in self._read(clause, tokens, subjects, absorbed, moved, later)
        ]
        items += [Item(words, COMPARED * sign) for words, sign, _ in figures]
        if text.rstrip().rstrip("\"'”’»)").endswith("?"):  # asked, not said: "Will the Fed cut rates?" read 0.77
            items = [replace(i, value=i.value * QUESTION) for i in items]
        return Evidence(
            positive=sum(i.value for i in items if i.value > 0),
            negative=-sum(i.value for i in items if i.value < 0),
            neutral=sum(i.neutral for i in items),
            items=tuple(items),
        )

    @staticmethod
    def _read(
        clause: list[Match],
        tokens: list[str],
        subjects: frozenset[str] = frozenset(),
        absorbed: frozenset[int] = frozenset(),
        apposed: int | None = None,
        eased_later: bool = False,
    ) -> Iterator[Item]:
        """The items of one clause, each read against its subject, boosters, negators and hedges. A move right
        before the comparing word of two compared figures (`absorbed`: "a loss of 12, narrowing from 96") is
        what the comparison reads, and counts once, there: its own clause may have lost the subject it moves. The
        word `apposed` names is a move of the cost of the clause before (`apposed_move`); what comes before a
        retraction ("never came", `retraction`) reads the other way."""
        # A cost-like subject turns the moves it governs around ("losses widen" is bad news; `governed_moves`);
        # when they then say it is easing ("loss narrows", "defaults fall"), that is the news, and the
        # subject's own negative weight is dropped; so it is when it is what two figures compare ("a loss of
        # 2.1 against 4.8": `subjects` holds the words that say what the figures measure).
        governed = governed_moves(clause, tokens) | ({apposed} if apposed is not None else set())
        retracted = retraction(tokens, clause[0].start, clause[-1].start + clause[-1].length) if clause else None
        compares = any(m.term.compares for m in clause)  # "losses not as bad as feared": the news is "not bad"
        eased = eased_later or sum(clause[k].term.valence for k in governed) < 0
        hedge = min((m.term.hedge for m in clause), default=1.0)
        boosts = clause_boosts(clause)
        for k, m in enumerate(clause):
            value = m.term.valence
            if m.term.move and m.start in absorbed:
                value = 0.0
            elif k in governed:
                value = -value
            elif m.term.cost and (eased or compares or tokens[m.start] in subjects):
                value = max(value, 0.0)
            if value:
                value = math.copysign(max(abs(value) + boosts.get(k, 0.0), 0.1 * abs(value)), value)
                # each negator within WINDOW words before reaches across other items, as in VADER: two undo
                # each other ("fails to avoid default" is bad news)
                # a word of what "not as ... as" compares is reached as if it came right after the first "as"
                # ("not as weak or bad as feared": "bad" is four words from "not")
                at = next(
                    (c.start for c in clause[:k] if c.term.compares and m.start < c.start + c.length), m.start
                )
                negators = sum(
                    p.term.negator for p in clause[:k] if negation_reach(tokens, p.start + p.length, at) <= WINDOW
                )
                value *= N_SCALAR**negators
                if retracted is not None and m.start + m.length <= retracted:  # what did not happen ("never came")
                    value *= N_SCALAR
            neutral = 0.0 if m.start in absorbed and not m.term.valence else m.term.neutral  # "flat" compared
            if value or neutral:
                text = " ".join(tokens[m.start : m.start + m.length])
                yield Item(text, value * hedge, neutral, m.source)

    def is_cost(self, words: str) -> bool:
        """Whether a word or phrase ("cash burn") is a cost-like subject."""
        term = self.lexicon.terms.get(tuple(self.lexicon.stem(w) for w in words.split()))
        return term is not None and term.cost

    def direction(self, word: str) -> int:
        """+1 for a rising word ("rose", "gain"), -1 for a falling or bad one ("fell", "decline"), else 0."""
        term = self.lexicon.terms.get((self.lexicon.stem(word),))
        if term is None or not term.valence or not (term.move or term.valence < 0):
            return 0
        return 1 if term.valence > 0 else -1

    def _vader_term(self, word: str) -> Term:
        """A word the finance lexicon does not know, as VADER reads it."""
        if word in self._negate:
            return Term(negator=True)
        if word in self._boost:
            return Term(boost=self._boost[word])
        if len(word) < 3:  # VADER's chat abbreviations ("jp", "po", "tx", "l") are tickers and initials here
            return Term()
        return Term(valence=VADER_WEIGHT * self._vader.get(word, 0.0))

    def probabilities(self, text: str) -> NDArray[np.float32]:
        """[p(positive), p(negative), p(neutral)], summing to 1."""
        return from_evidence(self.evidence(text))

    def score(self, texts: list[str]) -> NDArray[np.float32]:
        """[len(texts), 3] probabilities over LABELS."""
        return _stack([self.probabilities(t) for t in texts])


def from_evidence(
    evidence: Evidence,
    scale: float = SCALE,
    bias: float = BIAS,
    neutral_scale: float = NEUTRAL_SCALE,
    cap: float = CAP,
) -> NDArray[np.float32]:
    """Probabilities over LABELS from evidence (the constants are parameters for fitting them)."""
    z = np.array(
        [
            scale * cap * math.tanh(evidence.positive / cap),
            scale * cap * math.tanh(evidence.negative / cap),
            bias + neutral_scale * cap * math.tanh(evidence.neutral / cap),
        ]
    )
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum(), dtype=np.float32)


@cache
def rules_version() -> str:
    """A hash of the code that reads the evidence (this module, the data file's parser, the tokenizer, the clause
    rules and comparisons.py): a change of rules changes answers as a change of words does, so an answer's
    model_version names both."""
    modules = (lexicon_terms, lexicon_text, lexicon_rules, comparisons)
    sources = (Path(__file__), *(Path(str(m.__file__)) for m in modules))
    return hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]


def _stack(rows: list[NDArray[np.float32]]) -> NDArray[np.float32]:
    return np.stack(rows) if rows else np.zeros((0, 3), dtype=np.float32)


@cache
def _default_lexicon() -> Lexicon:
    return Lexicon.load()


VADER_NEUTRAL_BAND = 0.05  # |compound| below this is neutral (VADER's documented threshold)


class Vader:
    """VADER alone, as the gateway answered before the finance lexicon: the baseline it is judged against.

    Probabilities: VADER's pos/neg/neu proportions, with the label decided by the compound score as
    VADER recommends; the proportion of the decided label is raised to be the largest."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer: Any = SentimentIntensityAnalyzer()
        self.version = package_version("vaderSentiment")

    def probabilities(self, text: str) -> NDArray[np.float32]:
        s = self._analyzer.polarity_scores(text)
        p = np.array([s["pos"], s["neg"], s["neu"]], dtype=np.float64) + 1e-6
        c = s["compound"]
        label = 0 if c >= VADER_NEUTRAL_BAND else 1 if c <= -VADER_NEUTRAL_BAND else 2
        p[label] = max(p[label], p.max() + 1e-3)
        return np.asarray(p / p.sum(), dtype=np.float32)

    def score(self, texts: list[str]) -> NDArray[np.float32]:
        return _stack([self.probabilities(t) for t in texts])
