"""The finance lexicon's data file (investiq/data/finance_lexicon.txt, its format described at its top): terms by
their stemmed words, light stemming, and phrase matching with wildcards. What the terms mean in a text is read by
investiq/core/lexicon.py."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from investiq.core.errors import ArtifactError

DATA = Path(__file__).resolve().parents[1] / "data" / "finance_lexicon.txt"
KINDS = frozenset("+-^v~=?*!@.x")


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
    version: str  # content hash of the data file
    # phrases with a wildcard, by (length, where their first word that is no wildcard is, that word): a text's
    # words look only at those that can match. By their first word alone, the few that begin with a wildcard ("*
    # hope fade") were tried at every word of every text: seven of them made scoring 45 % slower
    patterns: dict[tuple[int, int, str], list[tuple[tuple[str, ...], Term]]] = field(default_factory=dict)
    anchors: dict[int, tuple[int, ...]] = field(default_factory=dict)  # length -> where those first words are
    # the longest term that begins with a word, and the longest that begins with a wildcard: a word that begins no
    # long phrase is not tried at every length up to the lexicon's longest term
    reach: dict[str, int] = field(default_factory=dict)
    wild_reach: int = 0
    wild_anchors: dict[int, tuple[int, ...]] = field(default_factory=dict)  # anchors > 0 of `anchors`

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
        stem = Lexicon({}, irregular, vocabulary, "").stem
        terms: dict[tuple[str, ...], Term] = {}
        for kind, weight, words in entries:
            if kind != "@":
                _apply(terms.setdefault(tuple(stem(w) for w in words), Term()), kind, weight)
        patterns: dict[tuple[int, int, str], list[tuple[tuple[str, ...], Term]]] = {}
        for key, term in terms.items():
            at = next((i for i, k in enumerate(key) if k not in WILDCARDS), None)
            if at is None:
                raise ArtifactError(f"{path}: {' '.join(key)!r} is only wildcards: it would match anything")
            if any(k in WILDCARDS for k in key):
                patterns.setdefault((len(key), at, key[at]), []).append((key, term))
        # of two patterns as long, the one with fewer wildcards first: "cut * aisc guidance" (a cost's guidance
        # cut: good news) before "cut * * guidance" (bad news), whatever the file's order
        for bucket in patterns.values():
            bucket.sort(key=lambda pattern: sum(k in WILDCARDS for k in pattern[0]))
        anchors: dict[int, set[int]] = {}
        for n, at, _ in patterns:
            anchors.setdefault(n, set()).add(at)
        if not terms:
            raise ArtifactError(f"{path} has no terms")
        version = hashlib.sha256(raw).hexdigest()[:12]
        found = {n: tuple(sorted(ats)) for n, ats in anchors.items()}
        reach: dict[str, int] = {}
        for key in terms:
            if key[0] not in WILDCARDS:
                reach[key[0]] = max(reach.get(key[0], 0), len(key))
        wild_reach = max((len(key) for key in terms if key[0] in WILDCARDS), default=0)
        wild = {n: tuple(at for at in ats if at) for n, ats in found.items() if any(ats)}
        return cls(terms, irregular, vocabulary, version, patterns, found, reach, wild_reach, wild)

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
        """(length, term) of the longest term starting at stems[i], exact phrases before patterns, patterns with
        fewer wildcards before others."""
        reach = self.reach.get(stems[i], 1)
        for n in range(min(max(reach, self.wild_reach), len(stems) - i), 0, -1):
            words = tuple(stems[i : i + n])
            if n <= reach:
                term = self.terms.get(words)
                if term is not None:
                    return n, term
            # past this word's reach only a phrase that begins with a wildcard ("* fear recede") can match
            for at in self.anchors.get(n, ()) if n <= reach else self.wild_anchors.get(n, ()):
                for key, term in self.patterns.get((n, at, words[at]), ()):
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


# Endings after which a plural or a verb's -s is written -es ("losses", "taxes", "launches", "crashes", "vetoes");
# after any other, -es is the word's own e and an -s ("notes", "fares", "Andes": read as "not", a negator, "far"
# and "and", until 2026-12-07)
_ES_AFTER = ("s", "x", "z", "ch", "sh", "o")


def _strippings(word: str) -> Iterator[str]:
    n = len(word)
    if n > 3 and word.endswith("s") and not word.endswith("ss"):
        yield word[:-1]
        if word.endswith("es") and word[:-2].endswith(_ES_AFTER):  # not "notes" -> "not", a negator
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
