"""Finance-aware sentiment without a network: the fallback that answers when FinBERT is not exported.

A text is tokenized, lightly stemmed and matched against the finance lexicon
(investiq/data/finance_lexicon.txt: phrases first, longest first), with VADER's general lexicon
(vaderSentiment) for the words the finance lexicon does not know, at half their VADER valence.
Evidence is then read the way VADER reads it, within each clause (punctuation and words such as
"as", "after", "amid" separate clauses):

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
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core import comparisons
from investiq.core.comparisons import COMPARING_WORDS, compared
from investiq.core.errors import ArtifactError

DATA = Path(__file__).resolve().parents[1] / "data" / "finance_lexicon.txt"
NAME = "lexicon"  # the `model` of the answers the fallback gives (FinBERT's are "finbert")

SCALE = 2.0
BIAS = 1.0
NEUTRAL_SCALE = 2.0
CAP = 2.0
VADER_WEIGHT = 0.5  # a word only VADER knows counts for this share of its VADER valence
WINDOW = 3  # how many words a negator or a booster reaches, as in VADER
N_SCALAR = -0.74  # VADER's negation factor
COMPARED = 1.5  # two figures compared (investiq/core/comparisons.py): as much evidence as a plain move
QUESTION = 0.6  # a text that asks scales its evidence as a hedge does ("may": 0.6)
# What a headline concedes weighs less than what it says happened: a clause opened by "despite", "although",
# "though" or "even as" ("Shares fall despite strong results" read positive 0.58). VADER's like rule for "but"
# (the words before it halved) was tried too (2026-12-05): it moved three labeled texts, two the wrong way.
CONCEDED = 0.5
CONCEDING = frozenset(["despite", "although", "though"])  # words of BREAKS: they open a clause

KINDS = frozenset("+-^v~=?*!@.x")
# Words that end a clause (besides punctuation) unless a phrase takes them ("weigh on").
BREAKS = frozenset(
    [
        "as", "after", "amid", "amidst", "but", "while", "despite", "although", "though", "on",
        "following", "since", "because", "and", "whereas", "yet", "before", "ahead", "if", "unless",
    ]
)  # fmt: skip


@dataclass
class Term:
    """What the lexicon says about one term (a word or a phrase, stemmed)."""

    valence: float = 0.0  # signed evidence: > 0 positive, < 0 negative
    move: int = 0  # +1 up-move, -1 down-move: the valence is read against the clause's subject
    cost: bool = False  # a cost-like subject: it turns the moves of its clause around
    neutral: float = 0.0  # evidence of no news
    hedge: float = 1.0  # scales its clause
    boost: float = 0.0  # added to the size of the next item
    negator: bool = False
    compares: bool = False  # "not as ... as" (a rule's, not the file's): its clause's cost subject weighs nothing

    @property
    def evidence(self) -> bool:
        return bool(self.valence or self.neutral)


@dataclass(frozen=True)
class Lexicon:
    """The parsed data file: terms by their stemmed words, irregular forms, and phrases with a "*" or "*ly"."""

    terms: dict[tuple[str, ...], Term]
    irregular: dict[str, str]
    vocabulary: frozenset[str]
    longest: int
    version: str  # content hash of the data file
    # phrases with a wildcard, by (length, first word): a text's word looks only at those that can match
    patterns: dict[tuple[int, str], list[tuple[tuple[str, ...], Term]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = DATA) -> Lexicon:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"cannot read the finance lexicon {path}: {exc.strerror}") from None
        entries = []
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            parts = line.split("#", 1)[0].lower().split()
            if not parts:
                continue
            if len(parts) < 3 or parts[0] not in KINDS:
                raise ArtifactError(f"{path}:{number}: expected KIND WEIGHT TERM..., got {line!r}")
            try:
                weight = float(parts[1])
            except ValueError:
                raise ArtifactError(f"{path}:{number}: weight {parts[1]!r} is not a number") from None
            if parts[0] == "?" and not 0 < weight <= 1:
                raise ArtifactError(f"{path}:{number}: a hedge scales by a factor in (0, 1], got {weight}")
            if parts[0] == "@" and len(parts) != 4:
                raise ArtifactError(f"{path}:{number}: expected @ 0 FORM BASE, got {line!r}")
            entries.append((parts[0], weight, parts[2:]))
        irregular = {words[0]: words[1] for kind, _, words in entries if kind == "@"}
        vocabulary = frozenset(w for kind, _, words in entries if kind not in "@x" for w in words)
        stem = Lexicon({}, irregular, vocabulary, 1, "").stem
        terms: dict[tuple[str, ...], Term] = {}
        for kind, weight, words in entries:
            if kind != "@":
                _apply(terms.setdefault(tuple(stem(w) for w in words), Term()), kind, weight)
        patterns: dict[tuple[int, str], list[tuple[tuple[str, ...], Term]]] = {}
        for key, term in terms.items():
            if any(k in WILDCARDS for k in key):
                patterns.setdefault((len(key), key[0]), []).append((key, term))
        if not terms:
            raise ArtifactError(f"{path} has no terms")
        version = hashlib.sha256(raw).hexdigest()[:12]
        return cls(terms, irregular, vocabulary, max(map(len, terms)), version, patterns)

    def stem(self, word: str) -> str:
        """The form under which the lexicon knows `word`: an irregular form's base, else the first of its
        plain -s/-es/-ies/-ed/-ing strippings that the lexicon knows ("cutting" -> "cut", even though
        "cost cutting" is a phrase), else the word itself."""
        if word in self.irregular:
            return self.irregular[word]
        for candidate in _strippings(word):
            if candidate in self.vocabulary:
                return candidate
        return word

    def match(self, stems: list[str], i: int) -> tuple[int, Term] | None:
        """(length, term) of the longest term starting at stems[i], exact phrases before patterns."""
        for n in range(min(self.longest, len(stems) - i), 0, -1):
            words = tuple(stems[i : i + n])
            term = self.terms.get(words)
            if term is not None:
                return n, term
            for first in (words[0], *WILDCARDS):
                for key, term in self.patterns.get((n, first), ()):
                    if all(k == w or _wild(k, w) for k, w in zip(key, words, strict=True)):
                        return n, term
        return None


WILDCARDS = ("*", "*ly")  # in a phrase: any one word; any one word ending in -ly (an adverb, mostly)
# Words a wildcard never stands for: they join another clause or circumstance to the one a phrase reads, as a comma
# does ("pauses hiring amid layoffs" is not "pause * * layoff": read as halting layoffs, good news, by a review).
# Not "and" and "or": a verb's objects are joined by them ("pauses hiring and buybacks", "calls off protest and
# strike": a second review found them read the wrong way round without the verb)
JOINERS = frozenset({"but", "amid", "after", "before", "as", "while", "despite", "following", "than"})


def _wild(key: str, word: str) -> bool:
    if not word.isalnum() or word in JOINERS:
        return False
    return key == "*" or (key == "*ly" and word.endswith("ly") and len(word) > 3)


def _apply(term: Term, kind: str, weight: float) -> None:
    """One line of the data file onto its term (a term may have several lines: "loss" is - and ~)."""
    if kind in "+-":
        term.valence = math.copysign(abs(weight), 1.0 if kind == "+" else -1.0)
    elif kind in "^v":
        term.move = 1 if kind == "^" else -1
        term.valence = term.move * abs(weight)
    elif kind == "~":
        term.cost = True
    elif kind == "=":
        term.neutral = weight
    elif kind == "?":
        term.hedge = weight
    elif kind == "*":
        term.boost = weight
    elif kind == "!":
        term.negator = True
    # "." and "x": a term without evidence; it hides its words from shorter terms and from VADER


def _strippings(word: str) -> Iterator[str]:
    n = len(word)
    if n > 3 and word.endswith("s") and not word.endswith("ss"):
        yield word[:-1]
        if word.endswith("es"):
            yield word[:-2]
        if word.endswith("ies"):
            yield word[:-3] + "y"
    if n > 4 and word.endswith("ed"):
        yield word[:-2]
        yield word[:-1]
        if word.endswith("ied"):
            yield word[:-3] + "y"
        if word[-3] == word[-4]:
            yield word[:-3]
    if n > 5 and word.endswith("ing"):
        yield word[:-3]
        yield word[:-3] + "e"
        if word[-4] == word[-5]:
            yield word[:-4]


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


_APOSTROPHE_S = re.compile(r"['’]s\b")
_NOT = re.compile(r"n['’]t\b")
_DASH = re.compile(r"\s[-–—]+\s|[–—]")
_TOKEN = re.compile(r"[^\W_]+|[,;:!?()]")  # words of any script: [a-z] read "Zürich" as "z" + "rich" (positive)
# The lexicon reads English. A text written in another language is no evidence either way, however its words
# happen to spell English ones ("die" in German, "sin" in Spanish: VADER words): a text is taken as another
# language when no term of the finance lexicon is found in it and most of its letters are not Latin ones (Chinese,
# Japanese, Cyrillic, Arabic...) or it holds two different function words of German, Spanish, French, Italian or
# Portuguese and none of English's: names carry them ("De La Rue shares plunge", "Los Angeles, Las Vegas home
# prices plunge" were read as no evidence, a review), and a finance term says the text is English. Words that
# are also English ("die", "sin", "con", "son", "plus", "a", "in", "on", "as", "no", "do") count for neither, nor
# does Spanish "y" ("y/y"). One function word beside a letter English does not write (tried 2026-12-05 for "Die
# Aktie der Bank fällt stark", negative 0.76 on "die") took English headlines on French and Spanish names as
# foreign ("Crédit du Nord CEO praised", "Banco de España: terrible outlook": no evidence, a review): not so.
_FUNCTION_WORDS = {
    "english": "the of to for at by with from and or is are was were be been its it this that than after into "
    "over amid says said will would has have had not",
    "german": "der das und ist nicht mit für auf dem des von zu im eine ein einen bei nach über wird sich aus "
    "auch",
    "spanish": "el la los las del que en por para una un sobre más se su al es de",
    "french": "de le les des du et est pour dans avec sur une pas au aux sa ses",
    "italian": "il lo gli della delle dei di che per nel sul alla",
    "portuguese": "os da dos das em na com não de",
}
_ENGLISH = frozenset(_FUNCTION_WORDS["english"].split())
_FOREIGN = frozenset(
    w for language, words in _FUNCTION_WORDS.items() if language != "english" for w in words.split()
)
_LATIN_END = 0x24F  # Basic Latin to Latin Extended-B: the letters of English, German, Spanish, French...


def not_english(tokens: list[str]) -> bool:
    """Whether `tokens` (tokenize's) are of a text in another language than English (see _FOREIGN)."""
    letters = [ch for t in tokens for ch in t if ch.isalpha()]
    if letters and sum(ord(ch) > _LATIN_END for ch in letters) * 2 > len(letters):
        return True
    return len(_FOREIGN.intersection(tokens)) >= 2 and _ENGLISH.isdisjoint(tokens)


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers, and the punctuation that ends a clause: "Moody's" -> "moody",
    "didn't" -> "did not", "wider-than-expected" -> "wider than expected"."""
    text = _NOT.sub(" not", _APOSTROPHE_S.sub("", text.lower()))
    return _TOKEN.findall(_DASH.sub(" , ", text))


@dataclass(frozen=True)
class _Match:
    start: int
    length: int
    term: Term
    source: str


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
        clauses: list[list[_Match]] = [[]]
        openers = [""]  # the word or mark that opened each clause ("" for the first)
        skip = set()
        i = 0
        while i < len(tokens):
            if i in skip:
                i += 1
                continue
            if _superlative(tokens, i):  # "shares have never been higher": a record, not a negation
                i += 1
                continue
            after = _not_as(tokens, i)
            if after is not None:  # "not as bad as feared": the clause goes on, and the negator reaches "bad"
                clauses[-1].append(_Match(i, 1, COMPARES, "rule"))
                skip |= after
                i += 1
                continue
            found = self.lexicon.match(stems, i)
            if found is not None:
                clauses[-1].append(_Match(i, found[0], found[1], "finance"))
                i += found[0]
                continue
            if tokens[i] in BREAKS or not tokens[i].isalnum():
                clauses.append([])
                openers.append("even as" if tokens[i] == "as" and i and tokens[i - 1] == "even" else tokens[i])
            else:
                clauses[-1].append(_Match(i, 1, self._vader_term(tokens[i]), "vader"))
            i += 1
        if not any(m.source == "finance" for clause in clauses for m in clause) and not_english(tokens):
            return Evidence(0.0, 0.0, 0.0, not_english=True)  # a finance term read: English, whatever else
        figures = list(compared(text, self.is_cost, self.direction))
        subjects = frozenset(w for _, _, words in figures for w in words)
        absorbed = _absorbed(tokens, [span for span, _, _ in figures])
        items = [
            replace(item, value=item.value * weight) if weight != 1 else item
            for clause, weight in zip(clauses, _weights(openers), strict=True)
            for item in self._read(clause, tokens, subjects, absorbed)
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
        clause: list[_Match],
        tokens: list[str],
        subjects: frozenset[str] = frozenset(),
        absorbed: frozenset[int] = frozenset(),
    ) -> Iterator[Item]:
        """The items of one clause, each read against its subject, boosters, negators and hedges. A move right
        before the comparing word of two compared figures (`absorbed`: "a loss of 12, narrowing from 96") is
        what the comparison reads, and counts once, there: its own clause may have lost the subject it moves."""
        # A cost-like subject turns the moves it governs around ("losses widen" is bad news; `_governed`);
        # when they then say it is easing ("loss narrows", "defaults fall"), that is the news, and the
        # subject's own negative weight is dropped; so it is when it is what two figures compare ("a loss of
        # 2.1 against 4.8": `subjects` holds the words that say what the figures measure).
        governed = _governed(clause, tokens)
        compares = any(m.term.compares for m in clause)  # "losses not as bad as feared": the news is "not bad"
        eased = sum(clause[k].term.valence for k in governed) < 0
        hedge = min((m.term.hedge for m in clause), default=1.0)
        boosts = _boosts(clause)
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
                negators = sum(
                    p.term.negator for p in clause[:k] if _reach(tokens, p.start + p.length, m.start) <= WINDOW
                )
                value *= N_SCALAR**negators
            if value or m.term.neutral:
                text = " ".join(tokens[m.start : m.start + m.length])
                yield Item(text, value * hedge, m.term.neutral, m.source)

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


COMPARES = Term(compares=True)
# What a comparison with expectations ends on ("not as strong as hoped", "as analysts had feared"): said of the
# comparison, not evidence of its own ("feared" is negative to VADER, "hoped" positive, "as expected" no news).
_EXPECTED = frozenset(
    ["feared", "hoped", "expected", "anticipated", "forecast", "forecasted", "predicted", "estimated", "thought",
     "projected", "planned", "guided", "promised", "worried", "believed", "assumed", "priced", "implied"]
)  # fmt: skip


def _not_as(tokens: list[str], i: int) -> set[int] | None:
    """At the first "as" of "not as X as ..." (X: one to three words): the indices to pass over, the second "as"
    and the word of expectation after it within three words, when there is one ("not as bad as feared"), else
    none (the second "as" then ends the clause: "not as big as last year's"); None anywhere else. "as" ends a
    clause, so the negator never reached X: "losses not as bad as feared" read negative 0.93, "profit wasn't as
    strong as hoped" positive 0.92 (a review)."""
    if tokens[i] != "as" or i == 0 or tokens[i - 1] != "not":
        return None
    second = next((j for j in range(i + 2, min(i + 5, len(tokens))) if tokens[j] == "as"), None)
    if second is None:
        return None
    expected = next((j for j in range(second + 1, min(second + 4, len(tokens))) if tokens[j] in _EXPECTED), None)
    return {second, expected} if expected is not None else set()


# Words that make a negation a superlative when they follow it: "shares have never been higher" is a record high
# (it read negative 0.53), "investors have never been so bearish" bearish (positive 0.81), "profits never looked
# better", "never had profits risen so fast" (negative 0.81), "results could not be worse" (positive 0.64). A
# comparative followed by "than" keeps the negation: "shares never rose more than 2%" is a cap, not a record.
_EMPHATIC = frozenset(
    ["so", "such", "more", "less", "better", "worse", "higher", "lower", "bigger", "greater", "larger", "smaller",
     "stronger", "weaker", "cheaper", "faster", "slower", "richer", "busier", "deeper", "wider", "tighter",
     "brighter"]
)  # fmt: skip
EMPHATIC_REACH = 4  # words after "never" in which one of them makes it a superlative


def _superlative(tokens: list[str], i: int) -> bool:
    """Whether the negator at `i` says "never so X" or "could not be X-er" (a superlative) rather than "not": for
    "never", one of `_EMPHATIC` within `EMPHATIC_REACH` words after it in its clause; for "not", "could (can) not
    be" and one of them; either not followed by "than"."""
    if tokens[i] == "not":
        words = tokens[max(i - 1, 0) : i + 3]
        return len(words) == 4 and words[0] in ("could", "can") and words[2] == "be" and _emphatic(tokens, i + 2)
    if tokens[i] != "never":
        return False
    for j in range(i + 1, min(i + 1 + EMPHATIC_REACH, len(tokens))):
        if tokens[j] in BREAKS or not tokens[j].isalnum():
            return False
        if tokens[j] in _EMPHATIC:
            return _emphatic(tokens, j)
    return False


def _emphatic(tokens: list[str], j: int) -> bool:
    return tokens[j] in _EMPHATIC and (j + 1 >= len(tokens) or tokens[j + 1] != "than")


# Words a negation passes through without spending its reach: "no longer expects to need funding", "is not
# expected to be hit", "does not plan to cut", "no longer anticipates any impairment" (the verbs of expecting and
# the determiners after them: "we no longer anticipate a net loss" read negative, a review).
_THROUGH = frozenset(
    ["expect", "expects", "expected", "plan", "plans", "planned", "intend", "intends", "to", "be", "anticipate",
     "anticipates", "anticipated", "see", "sees", "forecast", "forecasts", "a", "an", "any"]
)  # fmt: skip
THROUGH = 4  # at most this many of them


def _reach(tokens: list[str], end: int, start: int) -> int:
    """Words from a negator ending at `end` to an item at `start`, as far as a negation reaches: the item's
    own position counts, up to THROUGH of the words in _THROUGH between them do not (so a far item costs no
    scan: a long clause of many negators stays linear)."""
    gap = start - end + 1
    if gap <= WINDOW or gap > WINDOW + THROUGH:
        return gap
    return gap - sum(t in _THROUGH for t in tokens[end:start])


# Verbs by which a subject makes something else move: what follows them moves, not the subject ("Debt default
# sends shares plunging", "Rate worries push stocks lower": the shares and the stocks fall, read positive 0.91
# and 0.77 while the cost word before turned every move of its clause around; a review).
_CAUSING_STEMS = ["send", "push", "drag", "pull", "knock", "force", "spark", "trigger", "prompt", "cause", "lead"]
CAUSING = frozenset(
    f"{stem}{end}" for stem in [*_CAUSING_STEMS, "drive"] for end in ("", "s", "ed", "ing")
) | frozenset(["sent", "dragged", "dragging", "knocked", "forced", "caused", "led", "drove", "driven"])
# Words between a move and the cost after it that make the cost no longer the move's own ("plunges over losses",
# "recovered from losses": the stock plunged, the company recovered), where "rising costs", "higher interest
# rates", "cut its funding costs" name the cost that moves.
_BETWEEN = frozenset(
    ["over", "from", "at", "by", "for", "with", "about", "into", "against", "toward", "towards", "through",
     "under", "without"]
)  # fmt: skip
# Words that join a move to its cost without taking a word of MODIFIES' reach: a move named by a noun ("rise in
# costs", "cut to interest rates", "easing of inflation": read the wrong way round by a first version of the rule,
# a review), and what a verb's object begins with ("cuts its annual operating costs"). Past a preposition one
# word may qualify the cost ("spike in bond yields"), not two ("gains in IT offset losses": IT's gains).
_OF = frozenset(["in", "of", "to"])
_JOINING = _OF | frozenset(["its", "their", "the", "a", "an", "his", "her", "our"])
MODIFIES = 2  # at most this many other words between a move and the cost it qualifies ("higher quarterly losses")


def _governed(clause: list[_Match], tokens: list[str]) -> frozenset[int]:
    """The indices in `clause` of the moves a cost-like subject turns around: a move that qualifies a cost right
    after it ("rising costs", "higher interest rates", "rise in costs"; not "plunges over losses"), and a move
    after a cost of its clause with no verb of causing between them ("losses at the unit widen", not "default
    fears send shares plunging"), unless a move qualifies that cost: then the two are the subject ("drop in
    layoffs lifts sentiment": the drop lifts it), but for the level the cost is brought to ("cuts net debt to its
    lowest level"; `_level_reached`). A term that is a move and a cost governs no move but through another
    cost."""
    costs = [m for m in clause if m.term.cost]
    pairs = [(k, c) for k, m in enumerate(clause) if m.term.move for c in costs if _qualifies(m, c, tokens)]
    qualified = {id(c) for _, c in pairs}
    out = {k for k, _ in pairs}
    for k, m in enumerate(clause):
        if not m.term.move or k in out:
            continue
        for c in costs:
            end = c.start + c.length
            if (
                c is not m
                and end <= m.start
                and (id(c) not in qualified or _level_reached(tokens[end : m.start + m.length]))
                and CAUSING.isdisjoint(tokens[end : m.start])
            ):
                out.add(k)
                break
    return frozenset(out)


# The last word of a level a cost is brought to, which "to" opens at most LEVEL_REACH words before it: "cuts debt
# to a ten-year low" is the cost's level, good news; it read as shares at a low (a blind part's headline, fresh13,
# in other words).
_LEVELS = frozenset(["low", "lowest", "high", "highest", "record", "peak", "bottom", "trough"])
LEVEL_REACH = 4


def _level_reached(words: list[str]) -> bool:
    """Whether `words`, from the end of a cost to the end of a move after it, say the level the cost is brought
    to: "to" first, a word of _LEVELS last ("to its lowest", "to record high"); not "cut costs to boost sales"."""
    return 1 < len(words) <= LEVEL_REACH + 1 and words[0] == "to" and words[-1] in _LEVELS


def _qualifies(m: _Match, c: _Match, tokens: list[str]) -> bool:
    """Whether move `m` qualifies cost `c` right after it: at most MODIFIES other words between (one past a
    preposition: "spike in bond yields"), none a preposition that makes the cost another thing's."""
    after = m.start + m.length
    if c is m or c.start < after:
        return False
    words = tokens[after : c.start]
    # "wider-than-expected quarterly loss": the comparison qualifies the move
    between = [t for t in words if t != "than" and t not in _EXPECTED | _JOINING]
    reach = 1 if not _OF.isdisjoint(words) else MODIFIES
    return len(between) <= reach and _BETWEEN.isdisjoint(between)


def _absorbed(tokens: list[str], spans: list[str]) -> frozenset[int]:
    """The indices of `tokens` that move right before a comparing word inside the texts `spans` of compared
    figures ("narrowing sharply from", "up from"; not "costs soared, compared with": a comma between). Spans
    come in the text's order and each is found after the one before."""
    absorbed: set[int] = set()
    at = 0
    for span in spans:
        words = tokenize(span)
        n = len(words)
        for i in range(at, len(tokens) - n + 1):
            if tokens[i : i + n] == words:
                for j in range(i + 1, i + n):
                    if tokens[j] in COMPARING_WORDS:
                        absorbed.update(
                            k for k in (j - 1, j - 2) if k > i and all(t.isalnum() for t in tokens[k:j])
                        )
                at = i + n
                break
    return frozenset(absorbed)


def _weights(openers: list[str]) -> list[float]:
    """Each clause's weight from the word that opened it (CONCEDED): a conceding clause goes on through "and"
    ("despite strong sales and higher margins")."""
    weights, conceding = [], False
    for opener in openers:
        conceding = opener in CONCEDING or opener == "even as" or (conceding and opener == "and")
        weights.append(CONCEDED if conceding else 1.0)
    return weights


def _boosts(clause: list[_Match]) -> dict[int, float]:
    """Index of an item -> what its boosters and dampeners add to its size. A booster reaches the next
    item within WINDOW words ("sharply higher"); with none, the item just before it ("falls sharply")."""
    out: dict[int, float] = {}
    signed = [k for k, m in enumerate(clause) if m.term.valence]
    for b, m in enumerate(clause):
        if not m.term.boost:
            continue
        after = [k for k in signed if k > b and clause[k].start - m.start <= WINDOW]
        before = [k for k in signed if k < b and m.start - (clause[k].start + clause[k].length) <= 1]
        target = after[0] if after else before[-1] if before else None
        if target is not None:
            out[target] = out.get(target, 0.0) + m.term.boost
    return out


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
    """A hash of the code that reads the evidence (this module and comparisons.py): a change of rules changes
    answers as a change of words does, so an answer's model_version names both."""
    sources = (Path(__file__), Path(comparisons.__file__))
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
