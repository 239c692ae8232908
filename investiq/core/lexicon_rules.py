"""The rules by which the finance lexicon reads a clause (investiq/core/lexicon.py): where clauses break and
what a conceding one weighs, how far a negator or a booster reaches, "not as X as feared", "never so X", which
moves a cost-like subject turns around, which moves two compared figures absorb."""

from __future__ import annotations

import re
from dataclasses import dataclass

from investiq.core.comparisons import COMPARING_WORDS, SCALE_WORDS
from investiq.core.lexicon_terms import Term
from investiq.core.lexicon_text import tokenize

WINDOW = 3  # how many words a negator or a booster reaches, as in VADER

# What a headline concedes weighs less than what it says happened: a clause opened by "despite", "although",
# "though" or "even as" ("Shares fall despite strong results" read positive 0.58). VADER's like rule for "but"
# (the words before it halved) was tried too (2026-12-05): it moved three labeled texts, two the wrong way.
CONCEDED = 0.5
CONCEDING = frozenset(["despite", "although", "though"])  # words of BREAKS: they open a clause

# Words that end a clause (besides punctuation) unless a phrase takes them ("weigh on").
BREAKS = frozenset(
    [
        "as", "after", "amid", "amidst", "but", "while", "despite", "although", "though", "on",
        "following", "since", "because", "and", "whereas", "yet", "before", "ahead", "if", "unless", "then",
    ]
)  # fmt: skip


# "on" before a day names when, not a cause: "the sell-off in Banco Andino on Friday was overdone" (the break cut
# the sell-off from what "was overdone")
_DAYS = frozenset(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mondays", "fridays",
     "weekdays", "weekends"]
)  # fmt: skip


def dated(tokens: list[str], i: int) -> bool:
    """Whether the word at `i` is an "on" that dates what comes before it ("on Friday"): no clause's end."""
    return tokens[i] == "on" and tokens[i + 1 : i + 2] != [] and tokens[i + 1] in _DAYS


@dataclass(frozen=True)
class Match:
    start: int
    length: int
    term: Term
    source: str


COMPARES = Term(compares=True)
# What a comparison with expectations ends on ("not as strong as hoped", "as analysts had feared"): said of the
# comparison, not evidence of its own ("feared" is negative to VADER, "hoped" positive, "as expected" no news).
EXPECTED = frozenset(
    ["feared", "hoped", "expected", "anticipated", "forecast", "forecasted", "predicted", "estimated", "thought",
     "projected", "planned", "guided", "promised", "worried", "believed", "assumed", "priced", "implied"]
)  # fmt: skip


def not_as(tokens: list[str], i: int) -> tuple[int, set[int]] | None:
    """At the first "as" of "not as X as ..." (X: one to four words): the second "as", and the indices to pass
    over: the second "as" and the word of expectation after it within three words, when there is one ("not as bad
    as feared"), else none (the second "as" then ends the clause: "not as big as last year's"); None anywhere
    else. "as" ends a clause, so the negator never reached X: "losses not as bad as feared" read negative 0.93,
    "profit wasn't as strong as hoped" positive 0.92 (a review); "not as much of a blow as feared" (four words)
    was no comparison, and "feared" counted (a mutation audit)."""
    if tokens[i] != "as" or i == 0 or tokens[i - 1] != "not":
        return None
    second = next((j for j in range(i + 2, min(i + 6, len(tokens))) if tokens[j] == "as"), None)
    if second is None:
        return None
    expected = next((j for j in range(second + 1, min(second + 4, len(tokens))) if tokens[j] in EXPECTED), None)
    return second, {second, expected} if expected is not None else set()


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
_SINCE = frozenset(["in", "since"])  # "not been this X in a decade": the first time in that long


def superlative(tokens: list[str], i: int) -> bool:
    """Whether the negator at `i` says "never so X", "could not be X-er" or "not been this X in a decade" (a
    superlative) rather than "not": for "never", one of `_EMPHATIC` within `EMPHATIC_REACH` words after it in its
    clause; for "not", "could (can) not be" and one of them, either not followed by "than", or "not been this (so)
    X" and then "in" or "since"."""
    if tokens[i] == "not":
        words = tokens[max(i - 1, 0) : i + 3]
        if tokens[i + 1 : i + 3] in (["been", "this"], ["been", "so"]) and _SINCE.intersection(
            tokens[i + 4 : i + 6]
        ):
            return True  # "margins have not been this good in a decade", "has not been so strong since 2007"
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
# A negated verb of expecting reaches the verb it governs however many words name what is expected (up to
# GOVERNED more than WINDOW): "does not expect sales in China to rebound", "no longer expects the housing market
# to recover" read positive (a review).
_EXPECTING = frozenset(
    ["expect", "expects", "expected", "anticipate", "anticipates", "anticipated", "see", "sees", "forecast",
     "forecasts", "want", "wants", "need", "needs", "believe", "believes", "think", "thinks"]
)  # fmt: skip
GOVERNED = 6


def negation_reach(tokens: list[str], end: int, start: int) -> int:
    """Words from a negator ending at `end` to an item at `start`, as far as a negation reaches: the item's
    own position counts, up to THROUGH of the words in _THROUGH between them do not (so a far item costs no
    scan: a long clause of many negators stays linear)."""
    gap = start - end + 1
    if gap <= WINDOW:
        return gap
    if gap <= WINDOW + GOVERNED and tokens[start - 1] == "to" and _EXPECTING.intersection(tokens[end : end + 2]):
        return WINDOW  # "no longer expects its European unit to recover": the verb it negates governs the item
    if gap > WINDOW + THROUGH:
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


# What a move a few words after it is said of, whatever cost came before: "gas costs erode margins" (read positive:
# the costs turned "erode" around), "higher rates hit earnings", "warranty costs wipe out $1 billion of profit".
_OWN_OBJECTS = frozenset(
    ["margin", "margins", "profit", "profits", "earnings", "sales", "revenue", "revenues", "income"]
)
OBJECT_REACH = 5  # words after the move in which its object may come ("wipe out $1 billion of quarterly profit")


def _own_object(tokens: list[str], after: int) -> bool:
    """Whether one of _OWN_OBJECTS comes within OBJECT_REACH words after a move, in its clause."""
    for t in tokens[after : after + OBJECT_REACH]:
        if t in BREAKS or t in COMPARING_WORDS or t == "to" or not t.isalnum():
            return False  # "unit costs dropped below revenue per car": revenue is what the cost is compared with
        if t in _OWN_OBJECTS:
            return True
    return False


def governed_moves(clause: list[Match], tokens: list[str]) -> frozenset[int]:
    """The indices in `clause` of the moves a cost-like subject turns around: a move that qualifies a cost right
    after it ("rising costs", "higher interest rates", "rise in costs"; not "plunges over losses"), and a move
    after a cost of its clause with no verb of causing between them and no object of its own after it ("losses
    at the unit widen", not "default fears send shares plunging" nor "gas costs erode margins"), unless a move
    qualifies that cost: then the two are the subject ("drop in layoffs lifts sentiment": the drop lifts it), but
    for the level the cost is brought to ("cuts net debt to its lowest level"; `_level_reached`). A term that is
    a move and a cost governs no move but through another cost."""
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
                and not _own_object(tokens, m.start + m.length)
            ):
                out.add(k)
                break
    return frozenset(out)


# A comma's clause that opens on a move or a level with no subject of its own says it of the clause before
# ("churn falls to 0.8%, lowest in company history"; "sets aside $1.2 bln for bad loans, triple a year earlier"):
# where that clause's cost moved, or it ends on a cost, the move is the cost's and turns around (both read
# neutral, a tie, in the read parts). Not a verb's -ing ("cuts costs, boosting margins": the cut boosts them), nor
# a move that qualifies the word after it ("..., higher margins ahead"): after the move comes the clause's end, a
# figure or one of APPOSED_NEXT.
APPOSED_NEXT = frozenset(
    ["than", "in", "since", "on", "a", "an", "the", "from", "ever", "of", "for", "at", "versus", "vs", "compared",
     "level", "levels"]
)  # fmt: skip


def apposed_move(clause: list[Match], before: list[Match], tokens: list[str]) -> int | None:
    """The index in `clause`, opened by a comma, of its first word when that is a move said of the cost of the
    clause `before`, or of its second when the first is "its", "their" or "the" ("bad-loan ratio falls to 0.91%,
    its lowest in eight years"; "vacancy dropped to 8%, the lowest since 2019"), the latter also where the clause
    before ends on a cost that did not move ("posts a $45 million net loss, its narrowest since going public"; not
    a bare move: "sets aside ... for bad loans, triple a year earlier", tried, turned an unread answer wrong);
    None else."""
    k = 1 if clause and tokens[clause[0].start] in ("its", "their", "the") else 0
    if len(clause) <= k or not before or clause[0].start == 0 or tokens[clause[0].start - 1] != ",":
        return None
    m = clause[k]
    if not m.term.move or tokens[m.start].endswith("ing"):
        return None
    after = m.start + m.length
    if after < len(tokens) and tokens[after].isalpha() and tokens[after] not in APPOSED_NEXT:
        return None
    if k and before[-1].term.cost:  # "posts a $45 million net loss, its narrowest since going public"
        return k
    costs = [c.start for c in before if c.term.cost]
    return k if any(costs and min(costs) < before[j].start for j in governed_moves(before, tokens)) else None


# What a clause says, then takes back: "the sell-off we feared never came", "the recovery has not materialised",
# "synergies failed to materialise": what comes before is what did not happen, and reads the other way (each read
# as said: "sell-off" and "feared" negative, "recovery" positive; fresh19's and fresh15's leftovers).
_HAPPENED = frozenset(
    ["came", "come", "arrived", "arrive", "happened", "happen", "materialised", "materialized", "materialise",
     "materialize", "materialises", "materializes"]
)  # fmt: skip
_MATERIALISED = frozenset(w for w in _HAPPENED if w.startswith("materiali"))
# ... and what a clause puts in the past or sets aside: "the best days of cash sweep income are behind it" (read
# positive on "best"), "the worst of its credit problems is behind it", "a trade spat ... is off the table", "the
# rally is built on sand", "the sell-off looks overdone to us", "the rally looks stretched", "the decline came to a
# halt", "the layoffs will not be necessary", "the worst case has been avoided", "the panic proved overdone". Not
# "behind" a name:
# "strong demand is behind the rally" names its cause
_PAST_IT = frozenset(["is", "are", "now", "firmly", "well", "largely", "finally", "was", "were", "been"])
_US = (["it"], ["us"], ["them"], ["me"])
_CAME = frozenset(["came", "come", "comes", "coming"])
# (not "is over": "warns the Red Sea bonanza is over" turned "warns" around, a read answer of fresh22 wrong)
_ENDED = frozenset(["ended", "resolved", "terminated", "dropped", "gone"])  # "has ended", "was dropped", "is gone"
_ENDED_BY = frozenset(["has", "have", "had", "been", "was", "were", "is", "are", "now", "finally"])
_ENDED_BY_LISTS = [[w] for w in _ENDED_BY]  # "has been quietly dropped": one adverb between
_WEIGHING = frozenset(["weigh", "weighs", "weighing", "weighed", "hurt", "hurting", "hurts", "hitting", "hit"])
_REFUSED = frozenset(["granted", "approved", "renewed", "extended"])
_ARRIVED = frozenset(["arrive", "arrived", "come"])  # "not materialised" is _MATERIALISED's, at any place
_OVERDONE = frozenset(["overdone", "overblown", "overextended", "stretched", "exaggerated", "exhausted"])
_LOOKS = frozenset(
    ["look", "looks", "looked", "is", "are", "was", "were", "seems", "seem", "appears", "appear", "proved",
     "proves"]
)  # fmt: skip
_LOOKS_LISTS = [[w] for w in _LOOKS]


def ended_by(tokens: list[str], i: int) -> bool:
    """Whether the ending at `i` ("ended", "dropped") follows a form of have or be, at most one adverb between:
    "has been quietly dropped", "is long gone"."""
    before = tokens[i - 1]
    adverb = before.endswith("ly") or before == "long"
    return before in _ENDED_BY or (adverb and tokens[i - 2 : i - 1] in _ENDED_BY_LISTS)


def retraction(tokens: list[str], first: int, last: int) -> int | None:
    """The index of the first word of a retraction within tokens[first:last] ("never came", "not materialised",
    "failed to materialise" or "to show up", a clause ending "that wasn't", "that was not to be", "is behind it",
    "is off the table", "built on sand" or "looks overdone"; "came to a halt", "will not be necessary"; a clause
    that ends "has ended", "were resolved", "did not arrive" or "was not granted"; what is "no longer
    weighing on" what follows, "no longer on the table", what "no longer exists", was "a non-event", "has blown
    over" or "proves short-lived"), or None.
    "never" takes any of _HAPPENED; "not" and "failed to" only a form of materialise or "show up" ("did not come"
    may be a date: "the approval did not come until May")."""
    for i in range(max(first, 1), last):
        word, before = tokens[i], tokens[i - 1]
        if before == "never" and word in _HAPPENED:
            return i - 1
        if word in _MATERIALISED and before == "not":
            return i - 1
        shown = word in _MATERIALISED or (word == "show" and tokens[i + 1 : i + 2] == ["up"])
        if shown and before == "to" and i >= 2 and tokens[i - 2] in ("fail", "failed", "fails"):
            return i - 2
        # the word tested first: these run at every word of every clause
        ends = word == "not" and (i + 1 == last or (tokens[i + 1 : i + 3] == ["to", "be"] and i + 3 == last))
        if ends and before in ("was", "were") and i >= 2 and tokens[i - 2] == "that":
            return i - 2  # "the sell-off that wasn't:", "the rally that was not to be": the clause ends there
        if word == "behind" and i + 2 == last and before in _PAST_IT and tokens[i + 1 : i + 2] in _US:
            return i - 1  # "the best days ... are behind it", "the worst of the credit problems is now behind us"
        if (
            word in ("lived", "live")
            and before == "short"
            and i + 1 == last
            and tokens[i - 2 : i - 1] in _LOOKS_LISTS
        ):
            return i - 2  # "the margin squeeze proves short-lived"
        if word == "over" and before == "blown" and i + 1 == last:
            return i - 1  # "the headwinds that dominated last year ... have largely blown over"
        if word in ("exists", "exist") and i + 1 == last and tokens[i - 2 : i] == ["no", "longer"]:
            return i - 2  # "material weakness in internal controls no longer exists"
        if word == "event" and before == "non" and i + 1 == last:
            return i - 1  # "the restatement turned out to be a non-event:"
        if word == "table" and tokens[i - 4 : i] == ["no", "longer", "on", "the"]:
            return i - 4  # "rate cuts are no longer on the table for this year"
        off_the_table = word == "the" and i + 2 == last and before == "off" and tokens[i + 1] == "table"
        if off_the_table and i >= 2 and tokens[i - 2] in _PAST_IT:
            return i - 2  # "a trade spat that was set to hit the group is off the table"
        if word in _OVERDONE and before in _LOOKS and (i + 1 == last or tokens[i + 1 : last] == ["to", "us"]):
            return i - 1  # "the sell-off looks overdone (to us)", "the rally looks stretched"
        if word == "on" and i + 2 == last and before == "built" and tokens[i + 1] == "sand":
            return i - 1  # "the rally is built on sand"
        if word == "to" and before in _CAME and tokens[i + 1 : i + 3] in (["a", "halt"], ["an", "end"]):
            return i - 1  # "the long decline in fixed-line revenue came to a halt", "the rally came to an end"
        if word in ("necessary", "needed") and before == "be" and i >= 2 and tokens[i - 2] == "not":
            return i - 2  # "the layoffs announced in spring will not be necessary"
        if word == "avoided" and i + 1 == last and before in ("been", "was", "were"):
            return i - 1  # "its worst-case scenario for reimbursement cuts has been avoided"
        if i + 1 == last and word in _ENDED and ended_by(tokens, i):
            return i - 1  # "the partnership with a Japanese retailer has ended", "the problems ... were resolved"
        if word in _WEIGHING and before == "longer" and tokens[i - 2 : i - 1] == ["no"] and i + 1 < last:
            return i - 2  # "MLCC price cuts are no longer weighing on margins"
        if i + 1 == last and word in _REFUSED and before == "not" and tokens[i - 2 : i - 1] in (["was"], ["were"]):
            return i - 1  # "its bid for six more months of pediatric exclusivity was not granted"
        if i + 1 == last and word in _ARRIVED and before == "not":
            return i - 1  # "the upgrade investors had counted on did not arrive:" (not "did not come until May")
    return None


# The last word of a level a cost is brought to, which "to" opens at most LEVEL_REACH words before it: "cuts debt
# to a ten-year low" is the cost's level, good news; it read as shares at a low (a blind part's headline, fresh13,
# in other words).
_LEVELS = frozenset(["low", "lowest", "high", "highest", "record", "peak", "bottom", "trough"])
LEVEL_REACH = 4


def _level_reached(words: list[str]) -> bool:
    """Whether `words`, from the end of a cost to the end of a move after it, say the level the cost is brought
    to: "to" first, a word of _LEVELS last ("to its lowest", "to record high"); not "cut costs to boost sales"."""
    return 1 < len(words) <= LEVEL_REACH + 1 and words[0] == "to" and words[-1] in _LEVELS


def _qualifies(m: Match, c: Match, tokens: list[str]) -> bool:
    """Whether move `m` qualifies cost `c` right after it: at most MODIFIES other words between (one past a
    preposition: "spike in bond yields"), none a preposition that makes the cost another thing's."""
    after = m.start + m.length
    if c is m or c.start < after:
        return False
    words = tokens[after : c.start]
    # "wider-than-expected quarterly loss": the comparison qualifies the move
    # "slashes $600 million in costs": the amount is the move's size
    between = [t for t in words if t != "than" and t not in EXPECTED | _JOINING | SCALE_WORDS and not t.isdigit()]
    reach = 1 if not _OF.isdisjoint(words) else MODIFIES
    return len(between) <= reach and _BETWEEN.isdisjoint(between)


_CHANGE = re.compile(r"[-+]?\d[\d.,]*\s?(?:%|percent\b|per cent\b|pct\b|bps\b|basis points?\b)")


def absorbed_moves(tokens: list[str], spans: list[str]) -> frozenset[int]:
    """The indices of `tokens` that move right before a comparing word inside the texts `spans` of compared
    figures ("narrowing sharply from", "up from"; not "costs soared, compared with": a comma between), or right
    after a span, said of its second figure ("down 1% against a forecast 6% slide": the comparison reads the
    figures, and "slide" made the sales' beat a tie), or right before a span that opens on a change ("fell 2%
    against the 6% drop that was feared": the fall signs the change). Spans come in the text's order and each is
    found after the one before."""
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
                        absorbed.add(j)  # "$1,240 an ounce, below guidance of $1,350": "below guidance" is it
                if i + n < len(tokens) and tokens[i + n].isalnum():
                    absorbed.add(i + n)
                if words[0] in ("flat", "unchanged"):  # "sales were flat, against guidance for a 4% rise": A
                    absorbed.add(i)
                if _CHANGE.match(span):  # "fell 2% against the 6% drop": the fall is A's sign (`compared`)
                    absorbed.update(k for k in (i - 1, i - 2 if tokens[i - 1 : i] == ["by"] else -1) if k >= 0)
                at = i + n
                break
    return frozenset(absorbed)


# What a clause opened "two years after" or "months after" tells is the past the news is measured from
# ("reinstates its dividend, two years after suspending it during the slump" read negative on the suspension)
_SET_ASIDE = frozenset(["even as", "years after", "excluding"])  # openers that concede, besides CONCEDING
_SPANS = frozenset(["years", "months", "weeks", "days", "decade", "decades", "year", "month", "week", "day"])
_SPANS_AFTER = (["years"], ["months"], ["decades"], ["weeks"])


def opener(tokens: list[str], i: int) -> str:
    """The word or mark at `i` that opens a clause, as `clause_weights` reads it: "even as", "years after" (after
    any span of time, or "after" spans: "after years of"), else the word itself."""
    if i and tokens[i] == "as" and tokens[i - 1] == "even":
        return "even as"
    if tokens[i] == "after" and ((i and tokens[i - 1] in _SPANS) or tokens[i + 1 : i + 2] in _SPANS_AFTER):
        return "years after"  # "two years after suspending it", "after years of 30%-plus gains"
    return tokens[i]


def first_opener(tokens: list[str]) -> str:
    """What opens a text's first clause, as `clause_weights` reads it: "excluding" where the text begins with it
    ("Excluding the one-off gain from the property sale, operating profit would have declined by 18%"), else ""."""
    return "excluding" if tokens[:1] == ["excluding"] else ""


def clause_weights(openers: list[str], clauses: list[list[Match]]) -> list[float]:
    """Each clause's weight from the word that opened it (CONCEDED; "even as", "years after", a text's first
    "excluding"), "while" too where it opens the text: a conceding clause goes on through "and" ("despite strong
    sales and higher margins"); what comes before the last "but", "then" or "yet" is conceded too ("profit tops
    estimates, but the outlook disappoints"; "yet" since stop 69: three unread answers to right, none to wrong),
    unless the clause just before it is negated ("no longer expected to decline but to remain at last year's
    level": a correction, not a contrast)."""
    weights, conceding = [], False
    for k, word in enumerate(openers):
        opening = word == "while" and not any(clauses[:k])  # "While the board remains excited ..., it has ..."
        conceding = word in CONCEDING or word in _SET_ASIDE or opening or (conceding and word == "and")
        weights.append(CONCEDED if conceding else 1.0)
    last = max((k for k, word in enumerate(openers) if k and word in ("but", "then", "yet")), default=0)
    if last and not any(m.term.negator for m in clauses[last - 1]):
        weights = [CONCEDED if k < last else w for k, w in enumerate(weights)]
    return weights


def clause_boosts(clause: list[Match]) -> dict[int, float]:
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
