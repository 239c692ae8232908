"""The finance lexicon fallback: plausible labels, probabilities that follow the evidence, VADER's rules
(negation, intensity) applied to finance words, and its margin over VADER on the committed headlines."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from investiq.core import comparisons
from investiq.core.errors import ArtifactError
from investiq.core.finbert import LABELS, label_of
from investiq.core.lexicon import BIAS, FinanceLexicon, Vader, rules_version
from investiq.core.lexicon_terms import DATA, Lexicon
from investiq.core.lexicon_text import tokenize

HEADLINES = DATA.parent / "labeled_headlines.csv"


@pytest.fixture(scope="module")
def lexicon() -> FinanceLexicon:
    return FinanceLexicon()


def label(lexicon: FinanceLexicon, text: str) -> tuple[str, float]:
    """The label the gateway answers (`label_of`: a tie is neutral) and its probability."""
    p = lexicon.probabilities(text)
    k = label_of(p.tolist())
    return LABELS[k], float(p[k])


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # the issue's four headlines, which VADER called neutral at 0.99999 (three) and positive (one)
        ("Company Y files for bankruptcy", "negative"),
        ("Apple beats revenue estimates", "positive"),
        ("Analysts downgrade Initech to sell", "negative"),
        ("Tesla shares slide after deliveries miss", "negative"),
    ],
)
def test_the_issues_headlines_get_plausible_labels_with_measured_confidence(
    lexicon: FinanceLexicon, text: str, expected: str
):
    got, confidence = label(lexicon, text)
    assert got == expected
    assert 0.7 < confidence < 0.99  # clear evidence: confident, but never certain


@pytest.mark.parametrize(
    "text",
    ["The company is based in Ohio", "Lorem ipsum dolor sit amet", "Quarterly report", "🚀", "12345", ""],
)
def test_a_text_without_evidence_is_neutral_with_low_confidence(lexicon: FinanceLexicon, text: str):
    p = lexicon.probabilities(text)
    assert LABELS[int(p.argmax())] == "neutral"
    assert p.max() <= 0.6
    assert p.max() == pytest.approx(1 / (1 + 2 * np.exp(-BIAS)))
    assert lexicon.evidence(text).explain() == "(no evidence)"


def test_evidence_of_no_news_is_confidently_neutral(lexicon: FinanceLexicon):
    got, confidence = label(lexicon, "Federal Reserve keeps rates unchanged, in line with expectations")
    assert got == "neutral" and 0.8 < confidence < 0.99


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("Regulator approves the merger", "Regulator does not approve the merger"),
        ("Trial meets its main goal", "Trial fails to meet its main goal"),
        ("Shares fall", "Shares did not fall"),
        ("Company expects a loss", "Company expects no loss"),
        # turning away the bad news is good news (read as negative at 0.91-0.93 before: a probe)
        ("Company files for bankruptcy", "Company avoids bankruptcy"),
        ("Lender nears collapse", "Lender staves off collapse"),
        ("Retailer in bankruptcy", "Retailer emerges from bankruptcy"),
        # two negators undo each other, as in VADER (positive at 0.90 before)
        ("Firm avoids default", "Firm fails to avoid default"),
        # a negation reaches through "expects to", "plans to", "to be" (fresh9: "no longer expects to need ...")
        ("Airline expects to cut jobs", "Airline no longer expects to cut jobs"),
        ("Bank plans to raise its dividend", "Bank does not plan to raise its dividend"),
        # and from a verb of expecting to the verb it governs, however many words name what is expected
        ("Airline expects its European unit to recover", "Airline no longer expects its European unit to recover"),
        ("Brewer expects sales in China to rebound", "Brewer does not expect sales in China to rebound"),
    ],
)
def test_negation_flips(lexicon: FinanceLexicon, plain: str, negated: str):
    a, b = lexicon.probabilities(plain), lexicon.probabilities(negated)
    assert {LABELS[int(a.argmax())], LABELS[int(b.argmax())]} == {"positive", "negative"}
    assert (a[0] - a[1]) * (b[0] - b[1]) < 0


@pytest.mark.parametrize(
    ("text", "same_as", "expected"),
    [
        # a typographic apostrophe, as news feeds and word processors write it, negates as "'" does
        ("Apple didn\u2019t miss estimates", "Apple didn't miss estimates", "positive"),
        ("Fed doesn\u2019t cut rates", "Fed doesn't cut rates", "negative"),
        # five-letter past tenses are stemmed as longer ones are ("hiked" is "hike", as "hikes" is)
        ("Fed hiked rates again", "Fed hikes rates again", "negative"),
    ],
)
def test_spellings_of_one_word_read_alike(lexicon: FinanceLexicon, text: str, same_as: str, expected: str):
    assert label(lexicon, text)[0] == expected
    np.testing.assert_array_equal(lexicon.probabilities(text), lexicon.probabilities(same_as))
    assert [i.value for i in lexicon.evidence(text).items] == [i.value for i in lexicon.evidence(same_as).items]


def test_intensity_scales_confidence(lexicon: FinanceLexicon):
    def negative(text: str) -> float:
        return float(lexicon.probabilities(text)[1])

    assert negative("Shares edge slightly lower") < negative("Shares fall") < negative("Shares fall sharply")
    assert negative("Shares fall") < negative("Shares plunge") < negative("Shares plunge to a record low")


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # a move is read against its subject: costs rising is bad news, falling good news
        ("Inflation cools more than expected", "positive"),
        ("Losses widen", "negative"),
        ("Quarterly loss narrows", "positive"),
        ("Unemployment rises", "negative"),
        ("Revenue rises", "positive"),
        ("Layoffs mount", "negative"),
        ("Loan defaults fall", "positive"),
        ("Economic growth slows", "negative"),
        ("Investors cheer as costs fall", "positive"),
    ],
)
def test_moves_are_read_against_their_subject(lexicon: FinanceLexicon, text: str, expected: str):
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # a cost turns around only the moves it governs: each read positive 0.77-0.93 (or negative) before
        ("Default worries send bonds sliding", "negative"),
        ("Tax fears push the shares lower", "negative"),
        ("Inflation jitters drag the index to a record low", "negative"),
        ("Bank shares slump over bad loan losses", "negative"),
        ("Retailer rebounds from last year's losses", "positive"),
        # what it governs still turns: before it, or qualifying it from just before
        ("Rising borrowing costs squeeze homebuilders", "negative"),
        ("Higher fuel bill dents airline", "negative"),
        ("Bank cuts its funding costs", "positive"),
        ("Insurer posts wider-than-expected loss", "negative"),
        ("Defaults at the lender decline", "positive"),
        ("Yields climb as inflation fears grow", "negative"),
        # a move named by a noun, joined to its cost (a first version read each the wrong way round: a review)
        ("Rise in costs squeezes margins", "negative"),
        ("Surge in jobless claims", "negative"),
        ("Spike in Treasury yields", "negative"),
        ("Drop in layoffs lifts sentiment", "positive"),
        ("Reduction in net losses", "positive"),
        ("Cut to borrowing costs", "positive"),
        ("Easing of price pressures", "positive"),
        ("Company trims its yearly operating costs", "positive"),
        ("Index flat as gains in energy offset losses in retail", "neutral"),
        # a negation reaches through verbs of expecting and determiners
        ("We no longer anticipate a goodwill impairment", "positive"),
    ],
)
def test_a_cost_turns_around_only_the_moves_it_governs(lexicon: FinanceLexicon, text: str, expected: str):
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # general flaws that fresh2's errors showed, each in other words than fresh2's headlines
        ("UK GDP unexpectedly contracts in the second quarter", "negative"),  # a *ly adverb inside a phrase
        ("German manufacturing sharply contracts", "negative"),
        ("Defense sector wins contracts worth $2 billion", "positive"),  # *ly: not any word
        ("Dockworkers end three-day strike at East Coast ports", "positive"),
        ("Strike ends at GM assembly plant", "positive"),
        ("Stocks end higher as oil rallies", "positive"),  # "end" alone flips nothing
        ("Chipmaker agrees to be acquired by rival", "positive"),
        ("Services PMI returns to expansion", "positive"),
        ("Quarterly results underwhelm investors", "negative"),
        ("Smartphone sales hit a wall in China", "negative"),
        ("New tariff rates effective from Monday", "neutral"),  # "effective": VADER's praise, a date here
        # ... and fresh3's (press-release sentences among them)
        ("Turkish lira hits record low", "negative"),  # not "hit record" + "low"
        ("Wartsila receives a ship engine order worth EUR 60 million", "positive"),
        ("The utility has signed a deal worth USD 35 mn to supply turbines", "positive"),
        ("Key customer terminates its service agreement with the company", "negative"),
        ("The merger is subject to regulatory approval", "neutral"),  # approval as a condition
        ("The board proposes that no dividend be paid for 2025", "negative"),
        ("Bank scraps buyback after capital rules tighten", "negative"),
        ("Airline shares slide as jet fuel bill soars", "negative"),  # a bill is a cost
        ("New tariffs hammer Japanese exporters", "negative"),
        ("UBS names JP Morgan veteran as TX head of wealth unit", "neutral"),  # "jp", "tx", "wealth": no news
        # ... and fresh4's
        ("Shares of Etsy pop 11% in late trading", "positive"),
        ("The company recorded revenue of $2 billion in fiscal 2025", "neutral"),  # "recorded" is not "record"
        ("The sale is subject to customary antitrust approvals", "neutral"),
        # ... and a review of those changes
        ("Consumer spending rose 0.8% in March", "positive"),  # spending is no cost to the market
        ("US CPI rose 0.5% in May, more than expected", "negative"),  # CPI is inflation
        ("Cash burn rose to $80 million in the quarter", "negative"),
        ("Operating margin shrank to 8%", "negative"),  # "shrank" is "shrink"
        ("Bill Gates-backed startup raises $650 million", "positive"),  # a bill is a cost only as a fuel bill
        ("No dividend cut is planned, the CFO said", "positive"),
        # ... and words fresh5 lacked
        ("Judge tosses shareholder lawsuit against the airline", "positive"),  # "toss" undoes like "dismiss"
        ("Appeals court throws out antitrust lawsuit", "positive"),
        ("Chipmaker smashes profit estimates", "positive"),
        ("Shipbuilder clinches $2 billion LNG carrier deal", "positive"),
        ("Larsen & Toubro bags large order in the Middle East", "positive"),
        ("Results season a mixed bag for European banks", "neutral"),
        ("Green bond sale oversubscribed three times", "positive"),
        # ... and fresh7's
        ("Half-year sales came in below consensus expectations, the CFO said", "negative"),
        ("Fourth-quarter orders were above analysts' expectations", "positive"),
        ("Paper maker starts change negotiations covering its Oulu mill", "negative"),
        ("The customer will not renew its maintenance contract when it expires", "negative"),
        ("Refinery expansion finished ahead of schedule", "positive"),
        ("Bridge project runs over budget again", "negative"),
        ("The deal is expected to be accretive to free cash flow in 2027", "positive"),
        ("Fitch revises Ford outlook to stable from negative", "positive"),
        ("Moody's changes Intel outlook to negative from stable", "negative"),
        ("Euro zone inflation at 2.4%, matching estimates", "neutral"),
        ("Each subscriber may buy a lot of up to 500 shares", "neutral"),  # "up to" is a bound, no rise
        ("Telecom to showcase 5G routers at Barcelona trade fair", "neutral"),
        ("Bitcoin miners prepare for network upgrade next month", "neutral"),  # no analyst's upgrade
        ("Drugmaker gets EU nod for weight-loss pill", "positive"),
        ("Regulator clears stent for high-risk patients", "positive"),  # patients at risk: no bad news
        ("Oncology drug clearly misses survival goal", "negative"),  # "clearly": VADER's praise, a booster here
        # ... and fresh9's
        ("Siemens Energy scores $900m order from Saudi utility", "positive"),
        ("Biotech warns it will need additional funding next year", "negative"),
        ("Insurer renews its catastrophe reinsurance cover", "neutral"),
        ("Unilever sets record date for final dividend", "neutral"),  # no record
        ("Judge postpones hearing in glyphosate case", "neutral"),
        ("Miner slumps after deeply discounted share sale", "negative"),
        ("Palm oil refiner warns of margin squeeze", "negative"),
        ("Talks fail to reach agreement with creditors", "negative"),
        ("Developer plans restructuring of its dollar debt", "negative"),
        ("SEC closes accounting probe into Lyft", "positive"),
        ("Insurer settles claims for less than it had set aside", "positive"),
        ("The outage will have a material impact on third-quarter results", "negative"),
        ("FDA asks drugmaker for an additional trial of its lupus drug", "negative"),
        ("Airline restores dividend as travel demand recovers", "positive"),
        ("Shareholders approve all resolutions at the annual meeting", "neutral"),
        ("India lifts rice export ban", "positive"),
        ("Board to consider fundraising proposal on Friday", "neutral"),
        # "yet" ends a clause ("Sales rose, yet margins shrank"), and cut "not yet", "yet to" from what they negate
        # "Deal not yet approved" read positive 0.85, "Company has yet to turn a profit" 0.89 (a mutation audit)
        ("Deal not yet approved", "negative"),
        ("Company has yet to turn a profit", "negative"),
        ("Lender has not yet defaulted", "positive"),  # as "has not defaulted"
        ("No dividend yet, shares fall", "negative"),
        # "never" before a comparative or "so" says a record, not "not ever": "Shares have never been higher" read
        # negative 0.53, "Investors have never been so bearish" positive 0.81
        ("Shares have never been higher", "positive"),
        ("Shares have never been lower", "negative"),
        ("Investors have never been so bearish", "negative"),
        ("Never had profits risen so fast", "positive"),
        ("There has never been a better time to buy gold", "positive"),
        ("Shares never rose more than 2%", "negative"),  # "more than": a cap, the negation stands
        ("Lender never defaulted", "positive"),
        ("Margins could not be better", "positive"),  # "could not be X-er" too (positive 0.64 for "worse")
        ("Timing couldn't be worse for the airline", "negative"),
        # a move smaller than expected is read against the forecast; out of insolvency is good news; an approval
        # put off bad news (negative 0.62, negative 0.92, positive 0.58 before)
        ("Earnings decline less than expected", "positive"),
        ("Costs drop less than expected", "negative"),
        ("Revenue grows less than expected", "negative"),
        ("Airline exits Chapter 11", "positive"),
        # adjacent only: "approval of the deal delayed" still reads positive
        ("Drug approval delayed again", "negative"),
        # "hits a record" is a level, read against its subject as "record high" is ("Debt hits record" read
        # positive 0.77), and short interest is a cost-like subject
        ("Jobless claims hit record", "negative"),
        ("Short interest in the stock climbs", "negative"),
        ("Copper price hits record", "positive"),
        # what is denied or ruled out is turned away, and a case let go is good news (each read negative 0.85-0.93)
        ("Airline denies insolvency reports", "positive"),
        ("Carmaker rules out plant closures", "positive"),
        ("ECB rules out rate cut", "negative"),
        ("Watchdog denies merger approval", "negative"),
        ("DOJ drops antitrust probe into chipmaker", "positive"),
        ("Fraud charges dropped against former CFO", "positive"),
        ("Regulator ends investigation of lender", "positive"),
        # a payout stopped in the passive, a shortage easing, a stress test passed, a going-concern warning lifted,
        # debt paid off, a probe finding nothing (each read the other way, or neutral, before)
        ("Buyback suspended to preserve cash", "negative"),
        ("Dividend scrapped as losses mount", "negative"),
        ("Chip shortage finally easing, supplier says", "positive"),
        ("Labour shortage deepens", "negative"),
        ("Bank passes stress test with room to spare", "positive"),
        ("Two lenders fail Fed stress test", "negative"),
        ("Banks face annual stress test", "neutral"),
        ("Auditor removes going-concern warning", "positive"),
        ("Company pays off debt early", "positive"),
        ("Probe finds no wrongdoing at the bank", "positive"),
        ("Regulator clears CEO of wrongdoing", "positive"),
        # bad loans as a cost-like subject (VADER's "bad" made their fall negative 0.90), an offering priced
        # against its range, a down round, an outcome against what was feared, an accounting review
        ("Bad loans fall for fourth straight quarter", "positive"),
        ("Bad loans climb", "negative"),
        ("IPO priced below range", "negative"),
        ("IPO priced above range, shares pop in debut", "positive"),
        ("Startup raises funds in a down round", "negative"),
        ("Tech giant settles antitrust case for less than feared", "positive"),
        ("CFO departs amid accounting review", "negative"),
        # a report's "negatively impacted by" (its "higher" read as good news) and limited visibility
        ("Gross margin was negatively impacted by higher raw material prices.", "negative"),
        ("Sales were positively affected by currency movements", "positive"),
        ("Visibility remains limited and we are taking further cost measures.", "negative"),
        # "improve" is good news whatever improves (a cost's improvement read negative), a level reached is read
        # against its subject, cancellations are cost-like, a crunch eased, a hit taken, a vote against
        ("Insurer's combined ratio improves to 92%", "positive"),
        ("Office vacancies climb to record in San Francisco", "negative"),
        ("Profit climbs to record", "positive"),
        ("Shares fall to record low", "negative"),
        ("Homebuilder cancellations jump as mortgage rates rise", "negative"),
        ("Creditors agree to extend maturities, easing liquidity crunch", "positive"),
        ("Insurer takes $500 million hit from hurricane claims", "negative"),
        ("Shareholders vote against CEO pay package", "negative"),
        # stop 62: a re-acceleration, hopes dimmed, rates a business earns, back taxes, liabilities
        ("Cloud unit revenue growth reaccelerates to 35 percent", "positive"),
        ("Core inflation reaccelerates", "negative"),
        ("Core inflation reaccelerates, dimming hopes of rate cuts", "negative"),
        ("Weak data dims hopes of a soft landing", "negative"),
        ("Payments company's take rate declines, shares fall", "negative"),
        ("Hotel occupancy rate rises to 80%", "positive"),
        ("Tax authority demands $1 billion in back taxes from the miner", "negative"),
        ("Liabilities swell at the insurer", "negative"),
        ("Company cuts its liabilities", "positive"),
        ("Toymaker's holiday orders come in ahead of plan", "positive"),
        ("Gross margin contracted 300 basis points year over year", "negative"),
        ("Antitrust probe into the chipmaker closed without charges", "positive"),
        ("The EV maker burned through $2 billion of cash in the quarter", "negative"),
        ("Judge denies the company's motion to dismiss the fraud suit", "negative"),
        ("Judge grants the bank's motion to dismiss", "positive"),
        ("Earnings hit by strong dollar", "negative"),
    ],
)
def test_phrases_found_by_a_fresh_set(lexicon: FinanceLexicon, text: str, expected: str):
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a bare "meet" was good news: every meeting read positive (0.63); meeting goals and estimates still is
        ("Directors meet in London to discuss strategy", "neutral"),
        ("Ministers will meet with union leaders on Monday", "neutral"),
        ("Drugmaker's trial met its primary endpoint", "positive"),
        ("Quarterly sales meet analysts' expectations", "positive"),
        ("Trial fails to meet its main goal", "negative"),
        # failing to meet what is owed, or what is asked (a review of the change: these had read negative through
        # the bare "meet")
        ("Developer unable to meet its bond obligations", "negative"),
        ("Lender fails to meet new capital requirements", "negative"),
        ("Carmaker struggles to meet demand for its SUVs", "negative"),
        ("Quarterly results fail to meet consensus", "negative"),
        ("Chipmaker seizes a bigger market share", "positive"),
        # money trouble and misconduct that read as no evidence (0.58)
        ("Authorities seized the lender's assets", "negative"),
        ("Regulator uncovers Ponzi scheme at fund manager", "negative"),
        ("Miner skips interest payment on its bonds", "negative"),
        ("Retailer reaches forbearance deal with banks", "negative"),
        ("Bank to restate results for 2023", "negative"),
        ("Airline furloughs 2,000 pilots", "negative"),
        ("Startup is burning through its cash", "negative"),
        # moves read against their subject
        ("Gross margins compressed in the quarter", "negative"),  # and VADER's "gross" (disgusting) ignored
        ("Input costs compress as freight rates fall", "positive"),
        ("Sales growth decelerated sharply", "negative"),
        ("Inflation decelerates in November", "positive"),
    ],
)
def test_words_found_by_a_new_users_walkthrough(lexicon: FinanceLexicon, text: str, expected: str):
    """Tested in other words than the walkthrough's own ("The board meets on Thursday", "Regulators seize Silicon
    Valley Bank", "Company skips coupon payment", "Margins compress", "Revenue growth decelerates", ...)."""
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize("text", ["Shares rise while guidance weakens", "Revenue rises as margins fall"])
def test_mixed_evidence_is_uncertain(lexicon: FinanceLexicon, text: str):
    p = lexicon.probabilities(text)
    assert p.max() < 0.5
    assert abs(p[0] - p[1]) < 0.1  # split between the two sides, little left for neutral
    assert lexicon.probabilities("Shares rise on strong guidance").max() > 0.9


def test_but_leans_to_what_follows_it_without_certainty(lexicon: FinanceLexicon) -> None:
    """What comes before "but" is conceded (since 2026-12-07; both sides weighed alike before): the answer leans to
    the clause after it, still far from certain."""
    for text, lean in (("Revenue rises but margins fall", 1), ("Margins fall but revenue rises", 0)):
        p = lexicon.probabilities(text)
        assert p[lean] > p[1 - lean] + 0.2 and p[lean] < 0.75


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Apple beats revenue estimates",
        "word " * 400,
        "Shares plunge 🚀📉 — ünïcödé, (!?) tab\tnew\nline",
        "not not not never no",
        "sharply sharply sharply",
        "bankruptcy " * 50 + "record profit " * 50,
    ],
)
def test_probabilities_are_a_distribution(lexicon: FinanceLexicon, text: str):
    p = lexicon.probabilities(text)
    assert p.shape == (3,) and p.dtype == np.float32
    assert np.all(p > 0) and float(p.sum()) == pytest.approx(1.0, abs=1e-6)
    assert p.max() < 0.97  # no evidence makes it certain


def test_score_is_a_batch_of_probabilities_and_deterministic(lexicon: FinanceLexicon):
    texts = ["Apple beats revenue estimates", "Company Y files for bankruptcy", "Meeting on Tuesday"]
    scores = lexicon.score(texts)
    assert scores.shape == (3, 3)
    np.testing.assert_array_equal(scores, FinanceLexicon().score(texts))
    assert lexicon.score([]).shape == (0, 3)
    assert lexicon.version == FinanceLexicon().version
    assert "+vader-" in lexicon.version


def test_the_version_names_the_rules_as_well_as_the_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A change to the code that reads the evidence changes answers as a change of words does: the version
    an answer is journaled with changes with it."""
    before = FinanceLexicon().version
    changed = tmp_path / "comparisons.py"
    changed.write_bytes(Path(comparisons.__file__).read_bytes() + b"# another rule\n")
    monkeypatch.setattr(comparisons, "__file__", str(changed))
    rules_version.cache_clear()
    try:
        after = FinanceLexicon().version
    finally:
        monkeypatch.undo()
        rules_version.cache_clear()
    assert before.split("+")[0] == after.split("+")[0] and before != after
    assert FinanceLexicon().version == before


@pytest.mark.parametrize(
    "text",
    [
        "Les bénéfices de Renault dépassent les attentes",  # French: les, de... and no English function word
        "Il fatturato di Enel cresce per il terzo trimestre",  # Italian
        "Der Umsatz von BASF sinkt im dritten Quartal",  # German
        "Los precios del petróleo caen por la demanda",  # Spanish
        "Газпром сообщил о рекордной прибыли",  # Cyrillic
        "三星电子第三季度利润大增",  # Chinese
    ],
)
def test_a_text_in_another_language_is_no_evidence_and_says_so(lexicon: FinanceLexicon, text: str):
    """The lexicon reads English: other languages' words that spell English ones were read as English ("die"
    in German negative 0.76; "Zürich" as "z" + "rich", positive 0.73), and texts of other scripts as no evidence
    without a word of why (a review)."""
    p = lexicon.probabilities(text)
    assert p.max() == pytest.approx(1 / (1 + 2 * np.exp(-BIAS)))
    assert lexicon.evidence(text).explain() == "(not English: no evidence read)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zürich Insurance reports quarterly results", "neutral"),  # one word, not "z" + "rich"
        ("Société Générale cuts 900 jobs", "negative"),  # accented names: still English
        ("Nestlé de México cuts prices as volumes fall", "negative"),  # an accent and "de", with English's "as"
        ("Crédit du Nord CEO praised", "positive"),  # one particle and an accent: still English (a review)
        ("Banco de España: terrible outlook", "negative"),
        ("Exports rise 8% y/y, beating forecasts", "positive"),  # "y/y" is no Spanish
        ("Banco Santander reports higher profit for the quarter", "positive"),
        ("De Beers, La Rinascente sales slump", "negative"),  # name particles: a finance term says it is English
        ("Los Angeles port volumes jump", "positive"),
    ],
)
def test_english_with_foreign_names_is_read_as_english(lexicon: FinanceLexicon, text: str, expected: str):
    assert label(lexicon, text)[0] == expected, lexicon.evidence(text).explain()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "not as X as": "as" ends a clause, so the negator never reached X, and the comparison read backwards
        ("Writedowns not as large as investors feared", "neutral"),  # "large" is no evidence either way
        ("Quarterly losses not as severe as analysts feared", "positive"),
        ("Orders not as strong as the company had hoped", "negative"),
        ("Margins were not as healthy as expected", "negative"),
        # levels are moves, read against their subject
        ("Mortgage rates climb to record high", "negative"),
        ("Bond defaults fall to an all-time low", "positive"),
        ("Nasdaq closes at record high", "positive"),
        ("Inflation expectations ease from record high", "positive"),  # a level moved away from is no news
        ("Bond yields retreat from an all-time high", "positive"),
        # refusing to do what would be good (or bad) news
        ("Senate refuses to approve the funding bill", "negative"),
        ("Board refuses to cut the dividend", "positive"),
    ],
)
def test_comparisons_levels_and_refusals_read_the_right_way(lexicon: FinanceLexicon, text: str, expected: str):
    assert label(lexicon, text)[0] == expected, lexicon.evidence(text).explain()


def test_tokens_and_stems():
    assert tokenize("Moody's didn't cut; wider-than-expected loss") == [
        "moody", "did", "not", "cut", ";", "wider", "than", "expected", "loss",
    ]  # fmt: skip
    # a full stop ends a sentence, and so a clause, where it follows no abbreviation and no single letter
    assert tokenize("U.S. sales rose 2.5%. Acme Inc. fell on Jan. 5.") == [
        "u", "s", "sales", "rose", "2", "5", ";", "acme", "inc", "fell", "on", "jan", "5", ";",
    ]  # fmt: skip
    # a speaker's fillers are no words, and the commas around them end no clause
    assert tokenize("Costs, uh, doubled; it's, you know, hard. We had, I think, six") == [
        "costs", "doubled", ";", "it", "hard", ";", "we", "had", "six",
    ]  # fmt: skip
    assert tokenize("Raise? lol no. Deliveries cut, ranked No. 3") == [
        "raise", "?", "lol", "no", ";", "deliveries", "cut", ",", "ranked", "no", "3",
    ]  # fmt: skip
    lex = Lexicon.load()
    assert [lex.stem(w) for w in ["surged", "misses", "cutting", "rallied", "fell", "rating", "losses"]] == [
        "surge", "miss", "cut", "rally", "fall", "rating", "loss",
    ]  # fmt: skip


def test_a_bad_lexicon_file_names_its_line(tmp_path: Path):
    path = tmp_path / "lexicon.txt"
    path.write_text("+ 1.0 good\n# comment\n% 1.0 what\n")
    with pytest.raises(ArtifactError, match=r"lexicon\.txt:3: expected KIND WEIGHT TERM"):
        Lexicon.load(path)
    path.write_text("+ much good\n")
    with pytest.raises(ArtifactError, match=r":1: weight 'much' is not a number"):
        Lexicon.load(path)
    with pytest.raises(ArtifactError, match="cannot read the finance lexicon"):
        Lexicon.load(tmp_path / "absent.txt")
    path.write_text("+ 1.0 good\n- 1.0 * *\n")
    with pytest.raises(ArtifactError, match=r"'\* \*' is only wildcards"):
        Lexicon.load(path)


def test_a_phrase_that_begins_with_a_wildcard_is_found_wherever_its_words_stand(tmp_path: Path) -> None:
    """Phrases are looked up by their first word that is no wildcard and where it stands: a phrase beginning with
    one or two wildcards matches after any word (or two), as one beginning with its word does."""
    path = tmp_path / "lexicon.txt"
    path.write_text("- 2.0 * hope fade\n- 3.0 * * fear return\n+ 1.0 hope\n")
    lexicon = FinanceLexicon(Lexicon.load(path))
    assert lexicon.evidence("Merger hopes fade").explain() == "merger hopes fade -2.0"
    assert lexicon.evidence("Bank default fears return").explain() == "bank default fears return -3.0"
    assert lexicon.evidence("Investors keep hope").explain() == "hope +1.0"


def test_a_custom_lexicon_is_used_and_versioned(tmp_path: Path):
    path = tmp_path / "lexicon.txt"
    path.write_text("+ 3.0 moonshot\n")
    custom = FinanceLexicon(Lexicon.load(path))
    assert label(custom, "A moonshot quarter")[0] == "positive"
    assert custom.version != FinanceLexicon().version


def test_wildcards_match_anywhere_in_a_phrase(tmp_path: Path):
    """Phrases with wildcards are indexed by their first word; one that starts with a wildcard still matches."""
    path = tmp_path / "lexicon.txt"
    path.write_text("+ 3.0 * moonshot\n- 3.0 sales *ly crater\n")
    custom = FinanceLexicon(Lexicon.load(path))
    assert label(custom, "A big moonshot quarter")[0] == "positive"
    assert label(custom, "Sales suddenly crater")[0] == "negative"
    assert label(custom, "Sales crater")[0] == "neutral"  # *ly needs its one -ly word


def accuracy(probabilities: NDArray[np.floating[Any]], truth: NDArray[np.integer[Any]]) -> float:
    return float((np.array([label_of(row.tolist()) for row in probabilities]) == truth).mean())


def test_the_lexicon_beats_vader_by_15_points_on_the_committed_headlines(lexicon: FinanceLexicon):
    with HEADLINES.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 150
    counts = {name: sum(r["label"] == name for r in rows) for name in LABELS}
    assert max(counts.values()) - min(counts.values()) <= len(rows) // 20  # balanced
    vader = Vader()
    for part in (None, "test", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6"):
        chosen = [r for r in rows if part is None or r["split"] == part]
        texts = [r["text"] for r in chosen]
        truth = np.array([LABELS.index(r["label"]) for r in chosen])
        ours, theirs = accuracy(lexicon.score(texts), truth), accuracy(vader.score(texts), truth)
        assert ours >= theirs + 0.15, (part, ours, theirs)


def test_vader_baseline_reproduces_the_issue(lexicon: FinanceLexicon):
    """What the gateway answered before: no lexicon word -> neutral at ~1.0."""
    p = Vader().probabilities("Company Y files for bankruptcy")
    assert LABELS[int(p.argmax())] == "neutral" and p.max() > 0.999


@pytest.mark.parametrize(
    "text",
    [
        "Oil's rally stalls as inventories build",
        "Bank shares give back early gains",
        "Retailer's five-day winning streak snaps",
        "Gold's rally is over, analysts say",
        "Gains evaporate in late trading",
        "Rally in Treasuries fades",  # the rise says where it was
        "Copper's rally in London stalls",
        "Gains in mining shares evaporate",
    ],
)
def test_a_rise_that_ends_is_bad_news(lexicon: FinanceLexicon, text: str):
    """ "Acme shares give up all gains", "winning streak ends", "rally is over" read positive 0.85-0.89: the rise
    was read, not its end (a review, in other words than these)."""
    assert label(lexicon, text)[0] == "negative"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Stocks rally to end the week higher", "positive"),
        ("Stocks rally in Asia to end the week higher", "positive"),
        ("Wall Street rallies to end a volatile week in the green", "positive"),
        ("Stocks rally over trade deal hopes", "positive"),
        ("Shares rally over 5% after earnings beat", "positive"),
        ("Losing streak ends for the Dow", "positive"),
        ("Bank stocks snap three-day losing streak", "positive"),
        ("Chipmakers end their winning streak", "negative"),
    ],
)
def test_a_rally_to_end_the_week_is_no_rise_that_ends(lexicon: FinanceLexicon, text: str, expected: str):
    """Phrases with a wildcard ("rally * end", "rally over") read bullish headlines as negative, and "streak end"
    a losing streak's end (a review of the rules above): which streak ends decides."""
    assert label(lexicon, text)[0] == expected


def test_a_condition_is_a_clause_of_its_own(lexicon: FinanceLexicon):
    """A cost-like subject turns its clause's moves around ("layoffs" rising is bad); it reached past "if" into
    the condition, and "may consider layoffs if demand weakens" read positive 0.59 (a review)."""
    assert label(lexicon, "Chipmaker may announce layoffs if orders slow")[0] == "negative"
    assert label(lexicon, "Profit falls if tariffs rise")[0] == "negative"


def test_a_question_is_weaker_evidence_than_the_statement(lexicon: FinanceLexicon):
    """ "Will the Fed cut rates in March?" read as the statement, positive 0.77 (a review): a question scales its
    evidence as a hedge does."""
    asked, said = (
        label(lexicon, "Will the ECB cut rates next month?"),
        label(lexicon, "The ECB will cut rates next month"),
    )
    assert asked[0] == said[0] == "positive" and asked[1] < said[1] - 0.1
    assert label(lexicon, '"Will the ECB cut rates next month?"') == asked  # a quoted question asks too


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Stock slides despite upbeat earnings", "negative"),
        ("Despite a record quarter, the shares tumble", "negative"),
        ("Shares gain even as sales disappoint", "positive"),
        ("Bank stocks climb although loan losses mount", "positive"),
        ("Shares slump despite strong sales and higher margins", "negative"),  # the concession goes on
    ],
)
def test_what_a_headline_concedes_weighs_less_than_what_happened(
    lexicon: FinanceLexicon, text: str, expected: str
):
    """A clause opened by "despite", "although", "though" or "even as" counts half: "Shares fall despite strong
    results" read positive 0.58 (strong +2.0 against fall -1.5). Tested in other words."""
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Software maker posts blowout quarter", "positive"),
        ("Retailer reports blowout holiday sales", "positive"),
        ("Airline jet diverted after cabin window blowout", "neutral"),  # no evidence of market news either way
        ("Tyre blowout blamed for delivery truck crash", "negative"),
    ],
)
def test_a_blowout_is_good_news_only_about_results(lexicon: FinanceLexicon, text: str, expected: str):
    """'blowout' alone read a grounded plane's door blowout positive 0.889 (an audit, in other words than these):
    it praises results, so it counts before a results noun (or one word before it) only."""
    got, confidence = label(lexicon, text)
    assert got == expected, (got, confidence)
    if expected == "neutral":
        assert confidence < 0.7


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-06: the patterns an audit's blind headlines showed (fresh11), tested here in other words
        ("Automaker halts layoffs at Ohio plant", "positive"),  # was negative 0.93: halt's and the layoffs'
        ("Retailer suspends job cuts as holiday demand recovers", "positive"),
        ("Bank scraps planned branch closures", "positive"),
        ("Miner halts production at flooded site", "negative"),  # stopping what is not a cost stays bad
        ("Chipmaker pauses share buyback program", "negative"),  # was positive: the buyback's alone
        ("Regulators block proposed merger of two rail operators", "negative"),  # these five: no evidence
        ("Buyer walks away from takeover of toy maker", "negative"),
        ("Drugmaker calls off acquisition after shareholder revolt", "negative"),
        ("Fashion chain placed into administration", "negative"),
        ("Steelmaker files for administration", "negative"),
        ("Airline reports smaller-than-expected quarterly loss", "positive"),  # was negative: the loss alone
        ("Carmaker's loss is smaller than expected", "positive"),
        ("Retailer's profit smaller than expected", "negative"),  # was neutral
        ("Union calls off strike at auto plants", "positive"),  # calling off what hurts, as halting it
        ("Company calls off layoffs", "positive"),
        ("Board calls off CEO search", "neutral"),  # "call off" alone is no news either way
        # a wildcard of a phrase never stands for a word that joins another clause or circumstance (a review: these
        # read positive 0.85 as halting layoffs or a closure) ...
        ("Firm pauses hiring amid layoffs", "negative"),
        ("Hospital cancels surgeries after closure of ward", "negative"),
        # ... but may for "and" between a verb's objects (a second review: these read the wrong way round)
        ("Company pauses hiring and buybacks", "negative"),
        ("Union calls off protest and strike", "positive"),
    ],
)
def test_stopping_a_cost_a_deal_that_fails_and_a_size_below_expectations(
    lexicon: FinanceLexicon, text: str, expected: str
):
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-07: the patterns a writer's blind part showed (fresh13), tested here in other words
        ("Dockworkers cancel planned walkout at three ports", "positive"),  # a walkout stopped, as a strike
        ("Miners end work stoppage at copper pit", "positive"),
        ("Retailer fails to hit its margin target", "negative"),  # was neutral: "hit" negated, no target
        ("Carmaker hits its delivery target for the year", "positive"),
        ("Jury orders chipmaker to pay $400 million in patent case", "negative"),  # was neutral: no evidence
        ("Judge orders the insurer to pay damages", "negative"),
        ("Regional lender's bond portfolio under water", "negative"),
        ("Audit finds control lapses at payments firm", "negative"),
        ("The worst is over for chipmakers, says CEO", "positive"),  # was negative: "worst" alone
        ("Is the worst over for European banks? Loan losses keep rising", "negative"),  # asked: no evidence
        ("Is the worst over for homebuilders? Orders climb again", "positive"),
        ("This call contains forward-looking statements subject to risks and uncertainties", "neutral"),
        (
            "Brewer cuts its net debt to its lowest level since 2015",
            "positive",
        ),  # was neutral: read as shares' low
        ("Lender lifts borrowing costs to record high", "negative"),  # was positive: the record high
        ("Airline slashes costs to fund expansion", "positive"),  # "to" and a verb: no level
    ],
)
def test_stopped_walkouts_targets_hit_orders_to_pay_and_a_cost_brought_to_a_level(
    lexicon: FinanceLexicon, text: str, expected: str
):
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-07: the patterns a writer's blind part showed (fresh15), tested here in other words
        ("Sales growth of 3% came in well short of the 7% the company had targeted", "negative"),  # was positive
        ("Quarterly revenue fell short of what analysts had pencilled in", "negative"),
        ("Airline dodges strike as unions accept pay offer", "positive"),  # "dodge" turns away, as "avoid"
        ("We now expect adjusted earnings at the upper end of our guidance range", "positive"),
        ("Full-year sales are now seen at the lower end of the range", "negative"),
        ("The coupon payment date falls on 1 March", "neutral"),  # was negative: "falls"
        ("The company said it is no longer in a position to reaffirm its guidance", "negative"),  # was neutral
        ("The board will not pay an interim dividend in order to preserve cash", "negative"),  # was neutral
        ("Pension scheme receives a top-up payment from its sponsor", "neutral"),  # was positive: "top", "up"
        ("Following the review, no further provision is required", "positive"),  # was neutral
        ("Recovery in passenger numbers proves short-lived", "negative"),  # was positive: the recovery alone
        ("First-half trading was ahead of management's expectations", "positive"),  # was neutral
        ("Annual profit is expected to be well below current consensus expectations", "negative"),  # was positive
        ("Chemicals maker swings back to profit in second quarter", "positive"),  # was neutral
        ("Shipping line back in the black after two years of losses", "positive"),
    ],
)
def test_results_short_of_targets_ranges_ends_payouts_kept_back_and_dates_that_fall(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-07 (stop 65): read parts' leftovers (fresh2, 4, 5, 7, 9, 13, 15), tested here in other words
        ("Regulator strips the broker of its licence", "negative"),  # was neutral: no evidence
        ("Ratings agency strips the lender of its investment-grade rating", "negative"),
        ("Hopes of a quick merger fade as talks stall", "negative"),
        ("Miner declares its first ever dividend", "positive"),  # was neutral
        ("Software firm initiates quarterly dividend", "positive"),
        ("Insider buying picks up at the regional bank", "positive"),
        ("The promised cost savings have not materialised", "negative"),  # was positive: the savings alone
        ("Expected synergies failed to materialize", "negative"),
        ("Utility prices euro bond at the tightest spread in its history", "positive"),  # was neutral
        ("Biotech raises $200m in discounted share sale", "negative"),  # was positive: "raises"
        ("Group sells its chemicals unit above analysts' valuation", "positive"),
        ("Carmaker sells stake below market valuation", "negative"),
        ("Lender does not expect to reach its profitability target this year", "negative"),  # was neutral
        ("Retailer on track to achieve its cost savings target", "positive"),
        ("The company has not yet achieved its margin goal", "negative"),
    ],
)
def test_ratings_stripped_first_dividends_hopes_that_fade_placements_and_targets_further_away(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-07 (stop 65): the patterns of a writer's blind part (fresh17), tested here in other words
        ("S&P strips investment-grade rating from Italian lender", "negative"),  # was positive
        ("Agency lifts the carmaker out of junk", "positive"),
        ("Retailer reports a smaller-than-feared drop in holiday sales", "positive"),  # was negative
        ("Builder does not expect to pay an interim dividend this year", "negative"),  # was neutral
        ("Credit spreads tighten as investors return to corporate debt", "positive"),  # was neutral
        ("Italian bank CDS widen to a two-year high", "negative"),  # was positive: "high"
        ("Oil stocks gain as supply fears abate", "positive"),
        ("Lowe named chief executive, succeeding Smith", "neutral"),  # was positive: "succeed"
        ("S&P moves the insurer's outlook to negative from stable", "negative"),
        ("Cinema bookings are ahead of last year, says chain", "positive"),  # was neutral: "ahead of" a date
        ("Summer sales behind last year, retailer warns", "negative"),
        ("Miner says it may need to raise new equity", "negative"),  # was positive: "raise"
        ("Telecom extends its debt maturities to 2031", "positive"),
        ("Port back to full capacity as dockworkers return", "positive"),
        ("Competition watchdog blocks the grocer's proposed sale to rival", "negative"),  # was neutral
        ("Publisher of the best-selling video game names a new chief", "neutral"),  # was positive: "best"
    ],
)
def test_spreads_fears_that_ease_ratings_out_of_junk_payouts_and_sales_against_last_year(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-07 (stop 65): read parts' leftovers, second pass, tested here in other words
        ("The new chief executive will take up the role in January", "neutral"),  # "up" is no rise
        ("Insurer expects reserve releases to make up the shortfall", "neutral"),
        ("The number of ordinary shares outstanding was 12,400,000 at the end of the quarter", "neutral"),
        ("Shareholders will meet on 3 May to resolve on the dividend proposal", "neutral"),
        ("Justice Department drops bid to block the airline merger", "positive"),  # was negative: "drops"
        ("Regulator abandons its bid to block the chipmaker's takeover", "positive"),
        ("Will the Fed hike again in March? Analysts split", "neutral"),  # was positive
        ("Coke or Pepsi: which is the better buy for 2025?", "neutral"),
        ("Miner settles royalty dispute with the government", "positive"),  # was negative: "dispute"
        ("Beef exporter cleared to reopen the Chinese market", "positive"),
        ("Biotech's pain medicine succeeds in late-stage trial", "positive"),
        ("Board offers a special sweetener to win over investors", "positive"),
        ("Analyst says the recovery story is wishful thinking", "negative"),  # was positive: "recovery"
        ("Cost savings are running ahead of the initial target", "positive"),
        ("Deliveries of the new jet have been slower than planned", "negative"),  # was neutral
        ("Project delays lead to additional costs of $20 million", "negative"),
    ],
)
def test_phrasal_ups_shares_outstanding_blocks_dropped_split_views_and_targets_beaten(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-07 (stop 66): what fresh19 (credit and commodity desks, calls, letters) showed, in other words
        ("Spreads on the utility's euro bonds tighten 30 basis points", "positive"),  # was negative: "on" broke
        ("Corporate bond spreads widen sharply", "negative"),
        ("Fed signals it will tighten policy further", "negative"),
        ("Recession risk recedes as factory orders rebound", "positive"),  # "risk" governs "recedes"
        ("Analysts say worries about the bank's deposits are overblown", "positive"),
        ("Liquidity fears prove unfounded", "positive"),
        ("The dividend is neither increased nor reduced this year", "neutral"),  # two negators read one
        ("Shareholders' hopes were dashed", "negative"),
        ("Shares shrug off weak results", "positive"),
        ("The carrier has stopped losing customers to rivals", "positive"),
        ("Higher oil prices are a windfall for the refiner", "positive"),
        ("Government slaps windfall tax on energy producers", "negative"),
        ("The company repaid its revolving credit facility", "positive"),
        ("Cloud provider adds 40 new enterprise customers", "positive"),
        ("Discounting is squeezing margins at the chain", "negative"),
        ("Exports fell less than expected in March", "positive"),
        ("Natural gas futures settle at $3.10 per MMBtu", "neutral"),  # "natural" is no praise
        ("The fund added a position in Siemens during the quarter", "neutral"),
        ("Toolmaker signs supply agreement with automaker", "positive"),
        # a comma's clause that opens on a level says it of the cost that moved before it
        ("Jobless rate falls to 3.5%, lowest since 1969", "positive"),
        ("Bad debts climb to $2 bln, double the prior year", "negative"),
        ("Inflation fears send stocks lower, lowest since 2020", "negative"),  # the stocks' level, not the fears'
        ("Company cuts costs, boosting margins", "positive"),  # an -ing is the clause's own verb
        # a move right after two compared figures is the second figure's: the comparison reads it
        ("Exports down 2% against a forecast 5% drop", "positive"),
    ],
)
def test_spreads_fears_overblown_windfalls_and_levels_after_a_comma(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what a clause takes back ("never came", "failed to materialise") did not happen: it reads the other way
        ("Fears of a recession never materialised", "positive"),  # was negative: "fears", "recession"
        ("The sell-off traders braced for never came", "positive"),
        ("The promised rally never came", "negative"),
        ("Hopes for a quick deal never materialised", "negative"),
        ("The approval did not come until May", "positive"),  # "did not come" may be a date: no retraction
    ],
)
def test_what_never_came_reads_the_other_way(lexicon: FinanceLexicon, text: str, expected: str) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # 2026-12-07 (stop 67): what fresh21 (European papers, small caps, chips, banks, live blogs, Nordic interim
        # reports, fund letters) showed, in other words
        ("Hang Seng +2.4% as property developers rebound", "positive"),  # was: the sign dropped
        ("ASML −3.1% in early Amsterdam trade", "negative"),
        ("Lender's shares rose 2-3% on the day", "positive"),  # a range is no signed move
        ("Nikkei recoups the week's losses to end at a one-month high", "positive"),
        ("Treasury yields claw back Monday's drop", "positive"),
        ("Suspension threat lifted after the miner files its overdue accounts", "positive"),  # was negative
        ("Chipmaker regains compliance with the exchange's listing rules", "positive"),
        ("Biotech gets a second deficiency notice from the exchange", "negative"),  # was: no evidence
        ("A rights issue at this price would dilute existing shareholders heavily", "negative"),
        ("The start-up failed to deliver the software on time", "negative"),
        ("Higher volumes failed to offset the drop in prices", "negative"),  # "failed to" turned the drop around
        ("Management admits the 2027 margin goal is no longer achievable", "negative"),
        ("Traders' crash course in options: what a straddle is", "neutral"),  # an idiom, not a crash
        ("Early rally fizzles in afternoon trade", "negative"),
        ("Customers are taking longer to pay their invoices", "negative"),
        ("Retail sales were less bad than expected in August", "positive"),  # was negative: "bad"
        ("Profit will be below last year's; previously the board expected growth", "negative"),  # a past view
        ("Orders came in above the prior year, driven by exports", "positive"),
        ("An explainer: what contagion and a credit crunch mean for savers", "neutral"),
        ("Bund futures closed on Monday for a public holiday", "neutral"),
        ("The ECB's Lagarde to speak at a conference in Frankfurt", "neutral"),
        ("We made no changes to the fund's holdings during the month", "neutral"),
        ("Company publishes updated investor presentation", "neutral"),
        ("Bank opens a new customer service centre in Riga", "neutral"),  # not new customers won
        # what comes before the last "but" is conceded, unless it is negated (a correction: "not X but Y")
        ("Sales jumped 8% but the margin outlook was cut", "negative"),
        ("The selling was heavy at first, but buyers returned and shares rallied", "positive"),
        ("Costs are not expected to rise but to stay flat", "neutral"),  # was negative: "rise" conceded
        # a clause that ends "that wasn't" or "that was not to be" takes back what it names
        ("The recession that wasn't: GDP grows again", "positive"),
        ("It was the rebound that was not to be", "negative"),
    ],
)
def test_signed_moves_losses_clawed_back_threats_lifted_past_views_and_what_but_concedes(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh22 (commodities, industrials, retail, biotech, utilities, calls, rating notes) showed
        ("Yields on the convertible notes widen after the profit warning", "negative"),  # "notes" read "not"
        ("Spreads on the group's notes tighten as the sale closes", "positive"),
        ("Rail fares rise 4% in January", "positive"),  # "fares" read "far": no move of its own
        ("AAA-rated bonds rally as investors seek safety", "positive"),  # "rated" read "rate", a cost
        ("Telecom adds 1,250,000 subscribers, lifting revenue", "positive"),  # a comma inside a figure
        ("The chairman declined to comment on the bid", "neutral"),  # declining to speak is no decline
        ("Lender removes the last regulatory hurdle to the merger", "positive"),
        ("Cancer drug hits its main endpoint in late-stage trial", "positive"),  # was negative: "hits"
        ("Insulin pump maker wins CE mark in Europe", "positive"),
        ("New heart drug reduced mortality by a fifth", "positive"),  # a cost that falls
        ("Parliament scraps the digital levy", "positive"),
        ("Short sellers pile into the retailer's shares", "negative"),
        ("Regulator asks for another trial before approving the drug", "negative"),  # not yet approved
        ("Hospital costs came in under budget", "positive"),
        ("S&P removes the utility from credit watch negative", "positive"),
        ("Sales grew 2%, well short of the 10% management had promised", "negative"),  # a promise is no praise
        ("A weaker yen will shave $300 million off profit", "negative"),
        ("Strikes could dent quarterly earnings", "negative"),
        ("Automaker shows crash test results to reporters", "neutral"),
        ("The company issues secured notes due 2030", "neutral"),
        ("Copper's wild year explained in six charts", "neutral"),
        ("Shareholders vote on the reappointment of KPMG as auditor", "neutral"),
        ("Revenue decline narrows in the third quarter", "positive"),
    ],
)
def test_notes_fares_and_rated_stemmed_right_figures_readouts_levies_and_watches(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh24 (Asian press, IPOs, ESG, FX and rates, bankruptcy courts, AGM notices, retail posts) showed
        ("Kia recalls 40,000 cars over faulty wiring", "negative"),  # "kia" was VADER's -1.6 whatever the news
        ("Kia's June sales reach a record", "positive"),
        ("The bank's exports no longer trail those of its rivals", "positive"),
        ("Unemployment rate drops to 3.1%, its lowest since 2001", "positive"),  # a level after "its"
        ("Inflows are easing pressure on the currency", "positive"),
        ("Landlord drops its objection to the retailer's rescue plan", "positive"),
        ("Growth came at the cost of a collapse in margins", "negative"),  # "cost" turned the collapse around
        ("The company has eliminated its net debt", "positive"),
        ("The budget eliminates the tax credit for solar installers", "negative"),
        ("Shareholders will receive nothing under the lenders' plan", "negative"),
        ("Fintech start-up debuts 15% below its IPO price", "negative"),
        ("Miner pulls its London IPO, citing weak demand", "negative"),
        ("Private equity firm walks away from the proposed buyout", "negative"),
        ("Energy group faces a greenwashing suit from activists", "negative"),
        ("The founder resigns and no successor is in place", "negative"),
        ("Promoters pledge a further 5% stake to lenders", "negative"),
        ("Lender prices share placing at a 20% discount to the market price", "negative"),
        ("Airline's earnings drop milder than analysts feared", "positive"),
        ("The promised synergies failed to show up in the numbers", "negative"),  # what failed to show up
        ("The annual meeting will be held in Oslo on 3 June", "neutral"),
        ("Shares resume trading after a scheduled halt", "neutral"),
        ("Proxy fights and poison pills, decoded", "neutral"),
        ("The stock neither rose nor fell in Tuesday's session", "neutral"),
        ("Dividends go to holders of record on 14 March", "neutral"),
        ("Shareholders to vote on a special resolution to change the articles", "neutral"),
    ],
)
def test_names_vader_misreads_ipos_below_price_placings_pledges_and_meetings_held(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh26 (property, insurers, fintech, analysts' notes, macro releases, activists, app alerts) showed
        ("Shares of the lender have given back last week's 9% rally", "negative"),
        ("Heads up: the chipmaker now trades 4% below its offer price", "negative"),
        ("Retail sales growth was the slowest in three years", "negative"),
        ("Revenue rose 2%, short of the 5% goal set last year", "negative"),
        ("The insurer's storm losses came in well short of the worst fears", "positive"),
        ("Wage growth eased less than hoped in March", "negative"),
        ("Defaults at the card issuer have stopped rising", "positive"),
        ("Subscriptions at the streamer stopped growing last quarter", "negative"),
        ("The fund manager is no longer bleeding clients", "positive"),
        ("The scooter maker is still burning cash", "negative"),
        ("Net inflows into the firm's ETFs reached $3 billion", "positive"),
        ("The retailer will withdraw its full-year guidance", "negative"),
        ("The group has decided not to proceed with the listing of its unit", "negative"),
        ("Jefferies reiterates Hold on the broker and keeps its $48 target", "neutral"),
        ("Analysts keep the homebuilder at Neutral; the price target stays at $90", "neutral"),
        ("The insurer writes property and casualty cover in 12 countries", "neutral"),
        ("The board meets on Friday to approve the annual accounts", "neutral"),
        ("Check out today's most-traded stocks in the app", "neutral"),
        ("Don't miss out: the weekly market briefing is live", "neutral"),
        ("Payroll data undercut fears of a slowdown", "positive"),
        ("The chief executive said the worst of the downturn is now behind us", "positive"),
        ("The strongest years of growth are behind it, the analyst wrote", "negative"),
        ("While the chairman praised the progress, the company cut its dividend", "negative"),
        ("While margins slipped, the bank posted record profit and raised its payout", "positive"),
        ("The unit earned $14 million, against a $20 million loss a year earlier", "positive"),
        ("The firm posted a $9 million loss versus a $4 million profit", "negative"),
        ("Occupancy at the company's three suburban office parks fell to 81% from 88%", "negative"),
        ("Arrears at the lender's buy-to-let mortgage book fell to 1.2% from 1.9%", "positive"),
        ("Unemployment fell to 3.9% from 4.3%, the lowest in a decade", "positive"),
        ("The insurer will cut its dividend to $0.20 from $0.50 to rebuild capital", "negative"),
    ],
)
def test_rallies_given_back_paces_fears_put_to_rest_ratings_kept_and_what_is_behind_us(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh28 (chips, EVs, emerging desks, travel and media, tariffs, filings' MD&A, podcasts) showed
        ("The utility no longer expects to achieve its 2026 emissions target", "negative"),
        ("New 10% tariffs on imported aluminium hit the can maker", "negative"),
        ("The podcast's hosts say the stock's rebound is built on sand", "negative"),
        ("The founder gives the keynote at the company's developer conference", "neutral"),
        ("The carrier flies 80 wide-body jets on long-haul routes", "neutral"),
        ("The smelter will start production a year later than planned", "negative"),
        ("The chip designer signs a five-year supply agreement with a carmaker", "positive"),
        ("The chip designer shows signs of weakness as orders thin", "negative"),
        ("The streaming service loses 400,000 customers in the quarter", "negative"),
        ("Measures that were meant to revive demand have failed", "negative"),
        ("The trial showed the drug worked no better than the one it was meant to replace", "negative"),
        ("Traders had braced for a loss, but the miner turned a quarterly profit", "positive"),
        ("The auditor says the control weakness has been remediated", "positive"),
        ("The developer sold fewer homes than a year earlier", "negative"),
        ("Bad-loan provisions jumped 40% in the quarter", "negative"),
        ("The bank released provisions set aside for the pandemic", "positive"),
        ("The group cut its gearing ratio to 28% from 41%", "positive"),
        ("Airline cuts earnings guidance as fuel prices surge", "negative"),
        ("Orders were flat, a far cry from last year's surge", "negative"),
        ("The newsletter sees no reason to buy the stock at these levels", "negative"),
        ("The company will hold an investor call on Tuesday", "neutral"),
        ("A strike that was set to halt the plant is off the table after a pay deal", "positive"),
    ],
)
def test_targets_no_longer_achieved_tariffs_deals_signed_customers_lost_and_what_is_off_the_table(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh30 (lenders, pharma, food and farming, towers and railroads, Asian exporters, previews, posts)
        ("Shipments are running 8% above the group's own target", "positive"),
        ("Unit costs came in below the guidance set in February", "positive"),
        ("The regulator approved the drug a month ahead of its scheduled date", "positive"),
        ("The freight railroad's operating ratio improved to 58% from 63%", "positive"),
        ("The shipbuilder posts an operating loss of 90 billion won", "negative"),
        ("Card losses peaked earlier than expected, the lender said", "positive"),
        ("Sales of the drug peaked last year", "negative"),
        ("Higher freight costs erode the retailer's margins", "negative"),
        ("The brewer cuts its full-year earnings guidance", "negative"),
        ("The group raises its full-year revenue guidance again", "positive"),
        ("Analysts expect a fourth quarter of broadband subscriber losses", "negative"),
        ("Volumes fell 2% against the 6% drop that was feared", "positive"),
        ("Delinquencies came in at 2.1%, under the 2.6% analysts expected", "positive"),
        ("The bond trades at 60 cents, below the 75 cents where it was issued", "negative"),
        ("Next up on the calendar: the carmaker's results on Thursday", "neutral"),
        ("Reporting season wraps up this week with two exporters", "neutral"),
        ("Welcome aboard to our new head of sales! - a food maker's post", "neutral"),
        ("We're hiring: join our logistics team in Ohio", "neutral"),
        ("The chipmaker is headquartered in Hsinchu", "neutral"),
        ("Today we celebrate 50 years of the company with our employees", "neutral"),
        ("The board approved the regular quarterly dividend of 25 cents", "neutral"),
    ],
)
def test_figures_past_their_targets_ratios_lower_is_better_peaks_and_previews_and_posts(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh32 (short wires, monthly statistics, explorers, Chinese developers, bids, brokers, courts)
        ("Junior miner hits 22 metres of 5.4 g/t gold at its flagship project", "positive"),
        ("The explorer's first well comes up dry", "negative"),
        ("Appraisal well flows 3,200 barrels a day", "positive"),
        ("The drill hole cut 80 metres of sandstone; assays are pending", "neutral"),
        ("Shares of the developer halted pending an announcement", "neutral"),
        ("Production was halted pending an inspection after a fire", "negative"),
        ("Regulator revokes the lender's licence", "negative"),
        ("Antitrust authority prohibits the merger of two grocers", "negative"),
        ("A jury found the chemicals maker liable for the spill", "negative"),
        ("The court rejected a $90 million claim against the utility", "positive"),
        ("The regulator said it will take no enforcement action against the broker", "positive"),
        ("Quarterly profit was flattered by a one-off gain", "negative"),
        ("To us the market's capex scare looks overdone", "positive"),
        ("So much for the recovery: same-store sales fell again in May", "negative"),
        ("Instead of the promised buyback, the company will hoard cash", "negative"),
        ("Far from the record quarter management had promised, sales slipped", "negative"),
        ("Regulatory risks have diminished since the ruling", "positive"),
        ("The bank's NPL ratio fell for a fourth quarter", "positive"),
        ("Passenger yields rose 3% in April", "positive"),
        ("We maintain our Hold; risks look balanced at this price", "neutral"),
        ("The retailer will stop publishing monthly sales figures", "neutral"),
        ("The central bank will publish its financial stability report on Monday", "neutral"),
        ("Neither an upgrade nor a downgrade: the agency kept its rating", "neutral"),
        ("Storm losses came in below the insurer's budget for the quarter", "positive"),
        ("Deliveries fell 2%, far less than the 10% drop analysts expected", "positive"),
        ("Sales rose 1%, less than the 4% of a year ago", "negative"),
        ("The stock fell 6%, more than the 2% drop in the index", "negative"),
    ],
)
def test_drill_results_bids_blocked_claims_rejected_hopes_undone_and_figures_compared_by_than(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh34 (tagged wires, executives, strikes and hacks, flows, short interest, South and South-East
        # Asian desks, long wire sentences, quoted remarks) showed
        ("Outgoing chief admits he misjudged demand for the group's flagship phone", "negative"),
        ("Put buying in the regional lender surges ahead of results", "negative"),
        ("Investors yank $1 billion from the fund in a month", "negative"),
        ("The builder, which had pledged to cut debt, said leverage rose after cost overruns", "negative"),
        ("The dockworkers' strike was called off on the eve of the walkout", "positive"),
        ("Pilots accept the pay offer, ending a two-month dispute", "positive"),
        ("The watchdog has dropped its case against the insurer", "positive"),
        ("The toymaker wins dismissal of a lawsuit over its recall", "positive"),
        ("The conglomerate is in talks to sell its loss-making shipping arm", "positive"),
        ("The chemicals group draws a takeover approach from a rival", "positive"),
        ("Short sellers cover their bets as bears retreat from the carmaker", "positive"),
        ("Short interest in the biotech jumps to 30% of its float", "negative"),
        (
            "Short interest in Halcyon Bio (HLCY) jumps to a record",
            "negative",
        ),  # a bracketed ticker ends no clause
        ("Strike at two mills called off", "positive"),
        ("The utility ends its 20-year run of dividend increases", "negative"),
        ("The retailer's loss was smaller than its own warning, sparking a relief rally", "positive"),
        ("S&P takes the port operator off negative watch", "positive"),
        ("The order is worth half of what it first claimed", "negative"),
        ("The stock jumped at the open, then closed 5% lower", "negative"),
        ("Our order book has not been this strong in years, the chief executive said", "positive"),
        ("The plant will hold an emergency drill on Sunday", "neutral"),
        ("The bank moves its fiscal year-end to December, with no effect on results", "neutral"),
        ("What drives the rally in Indian small caps", "neutral"),
    ],
)
def test_strikes_called_off_cases_dropped_runs_ended_moves_undone_and_records_unsaid(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh36 (a US retail investor's feed: movers, wires, wraps, article titles, analyst blurbs) showed
        ("The retailer cuts $300 million in costs", "positive"),
        ("Rising input costs wipe out half of the brewer's quarterly profit", "negative"),
        ("The telecom says it will not meet its 2025 free cash flow goal", "negative"),
        ("The software maker's revenue beat consensus despite a cautious outlook", "positive"),
        ("The insurer now sees earnings $1 billion above its previous forecast", "positive"),
        ("Shares of the chipmaker hit a 52-week high", "positive"),
        ("Mortgage rates hit a 20-year high", "negative"),
        ("The sell-off in the stock looks overdone to us", "positive"),
        ("The housing upcycle is just getting started", "positive"),
        ("The stock's rally looks stretched after a 60% run", "negative"),
        ("The utility keeps its payout, putting fears of a cut to rest", "positive"),
        ("Jefferies raises the chipmaker to buy", "positive"),
        ("UBS cuts the airline to sell", "negative"),
        ("The long-promised margin recovery? Still waiting", "negative"),
        ("Sales grew 0.5%, far short of the 6% the company had promised", "negative"),
        ("The unit earned $20 million, a fraction of the $150 million analysts expected", "negative"),
        ("The fund saw redemptions of 2%, a fraction of the 15% it had feared", "positive"),
        ("The airline posts a $30 million loss, its narrowest in five years", "positive"),
        ("The carmaker burned $900 million of cash, less than the $1.5 billion expected", "positive"),
        ("The shipping boom and bust, in 10 charts", "neutral"),
        ("A timeline of the chipmaker's rise", "neutral"),
        ("A beginner's guide to dividend stocks", "neutral"),
        ("Ten years of crypto mania, explained", "neutral"),
    ],
)
def test_costs_cut_by_an_amount_targets_missed_highs_hit_upgrades_and_explainers(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh38 (sentences in the manner of the Financial PhraseBank: Nordic and German mid-caps) showed
        ("The feared drop in the mill's deliveries did not materialise", "positive"),
        ("The expected recovery in orders has not materialised", "negative"),
        ("The yard's losses were smaller than investors had feared", "positive"),
        ("The order book was EUR 40 mn smaller than a year earlier", "negative"),
        ("Net sales were 12 % larger than a year ago", "positive"),
        ("The group has received a EUR 4 mn order from a Polish utility", "positive"),
        ("The company has been selected as supplier for a new metro line", "positive"),
        ("The company will permanently shut its sawmill in Kajaani", "negative"),
        ("The board has decided not to propose a dividend for the year", "negative"),
        ("No decision on the closure has been made yet", "neutral"),
        ("The retailer returned to the black in the third quarter", "positive"),
        ("Lower energy costs more than offset the decline in paper prices", "positive"),
        ("Deliveries, which had fallen for two years, rose 7 % in the quarter", "positive"),
        ("The long slide in the group's print revenue came to a halt", "positive"),
        ("Production at the plant came to a halt after a power cut", "negative"),
        ("The job cuts planned for the autumn will not be necessary", "positive"),
        ("The app, launched with great fanfare, drew 2,000 users, a fraction of the 50,000 targeted", "negative"),
        ("The stock exchange will close early on New Year's Eve", "neutral"),
    ],
)
def test_release_sentences_orders_plants_dividends_and_what_came_to_a_halt(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh40 (earnings season: flashes, beats and misses, guidance, releases and calls) showed
        ("The retailer's Q2 EPS A$0.41 vs A$0.35 est.", "positive"),
        ("Revenue rose 2%, below its own 5% forecast", "negative"),
        ("Same-store sales were flat, against guidance for a 4% rise", "negative"),
        ("Comparable sales came in flat versus expectations for a 3% drop", "positive"),
        ("Bookings grew 9%, ahead of the 6% the company had guided", "positive"),
        ("Cloud revenue grew 15%, trailing the 20% investors had priced in", "negative"),
        ("Unit costs came in at $610 a tonne, below guidance of $650", "positive"),
        ("The chipmaker sets its first annual outlook above the Street", "positive"),
        ("Group guidance was raised after a strong quarter", "positive"),
        ("The outlook implies no growth next year", "negative"),
        ("Gross margin will land 150 basis points below the prior view", "negative"),
        ("The CEO said the downturn many had feared never came", "positive"),
        ("Management said the worst case for tariffs has been avoided", "positive"),
    ],
)
def test_earnings_flashes_flat_sales_against_guidance_figures_that_trail_and_outlooks(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh42 (markets as a whole: rates, currencies, commodities, indexes, crypto, data, strategists)
        ("European stocks shake off early losses to close higher", "positive"),
        ("Hopes for a quick recovery were dealt a blow by weak retail sales", "negative"),
        ("The jobs report ends hopes of a September rate cut", "negative"),
        ("Softer wage data eased investors' worries about inflation", "positive"),
        ("Investors flee equities for the safety of bonds", "negative"),
        ("Heavy selling hit chip stocks in the final hour", "negative"),
        ("Strategists call the move a bear-market rally", "negative"),
        ("A hawkish surprise from the central bank sinks bond prices", "negative"),
        ("The index ripped through resistance at 18,000", "positive"),
        ("Producer prices fell 0.3% in May", "positive"),
        ("The central bank trims the reserve requirement ratio", "positive"),
        ("The rally looks exhausted", "negative"),
        ("A telecom gear maker loses a $300m contract to a rival", "negative"),
        ("We have no strong view on oil over the summer", "neutral"),
    ],
)
def test_markets_as_a_whole_losses_shaken_off_hopes_dealt_a_blow_and_flights_to_safety(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


def test_a_full_stop_ends_the_clause_a_retraction_reads(lexicon: FinanceLexicon) -> None:
    # the question after the stop was read in its clause, and the rally that "looks stretched" stayed good news
    assert label(lexicon, "Tesla's rally looks stretched. Time to take profits?")[0] == "negative"


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh44 (ratings and debt, payouts and index changes, UK/Australian/Canadian news, releases, posts)
        ("Strong demand could not offset soaring freight costs", "negative"),
        ("The rate cut traders were counting on did not arrive", "negative"),
        ("Harbour Minerals prices a share placing at a 12% discount to the last close", "negative"),
        ("Kelso Group pushes out its 2025 maturities to 2031 in a bond exchange", "positive"),
        ("Banks waive Norbury Retail's leverage covenant for a year", "positive"),
        ("Downgrade risk fades for Corran Water after the asset sale", "positive"),
        ("Fenwick Mining to be included in the FTSE 250 from next week", "positive"),
        ("Alder Bank will be removed from the S&P 500 on Friday", "negative"),
        ("Copper output came in below plan in the second quarter", "negative"),
        ("Unit costs were below plan again", "positive"),
        ("Sorrel Foods to close its bakery plant in Leeds", "negative"),
        ("The launch of the new handset has been pushed back to the spring", "negative"),
        ("Marlow Engineering seals a £120m contract for rail signalling", "positive"),
        ("Quill Software partnered with a large Japanese insurer", "positive"),
        ("Dunmore wrote off its stake in the joint venture", "negative"),
        ("Its new trainers are flying off the shelves in Asia", "positive"),
        ("Bad debts were smaller than last qtr", "positive"),
        ("Q3 numbers crushed it", "positive"),
        ("Bank stocks suffered a bloodbath on Friday", "negative"),
        ("Short sellers in shambles after the buyout bid: bears in shambles", "positive"),
        ("The dividend went up 0.5%. thanks for nothing", "negative"),
        ("Kestrel bought back 50,000 of its own shares at an average price of 412p", "neutral"),
        ("The finance chief will retire in June as planned", "neutral"),
        ("The chief executive will be succeeded by the head of the retail unit", "neutral"),
        ("For the record, the company has not changed its guidance", "neutral"),
        ("Fenmore supplies ready meals to supermarkets", "neutral"),
        ("Tarn Oil resumes its dividend, four years after scrapping it in the oil-price crash", "positive"),
        ("The cost cuts are ahead of schedule, yet sales fell 5%", "negative"),
        ("The strike at the main port has ended", "positive"),
        ("The supply partnership with Kyoto Motors has ended", "negative"),
        ("Problems with the new billing system were resolved", "positive"),
    ],
)
def test_offsets_that_fail_index_changes_maturities_pushed_out_and_what_has_ended(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh46 (Asian business papers, media and travel, utilities and transport, IPOs and funds, outlooks)
        ("The Mumbai listing drew tepid demand from institutions", "negative"),
        ("Shares of the chipmaker closed below offer price on their first day", "negative"),
        ("The fintech's stock gave up its early pop within an hour", "negative"),
        ("The spin-off's debut fizzled in Frankfurt", "negative"),
        ("Nordlys raised $25 million at a valuation 60% below its peak", "negative"),
        ("The Korean carmaker's battery unit is not expected to break even until 2029", "negative"),
        ("The new Chinese joint venture will contribute to earnings from next year", "positive"),
        ("The jump in margins came from a tax credit and is unlikely to recur.", "negative"),
        ("Destocking by distributors hit second-quarter orders", "negative"),
        ("Harbour Capital closes its third fund above its hard cap", "positive"),
        ("The insurer sold its office tower above book value", "positive"),
        ("Staff attrition fell to 9% from 15% a year earlier", "positive"),
        ("Charter rates for capesize vessels slumped 30% in the quarter", "negative"),
        ("Pinnacle Foods will pay its regular dividend of 21 cents on June 2", "neutral"),
        ("The lock-up on the company's shares expires next week", "neutral"),
        ("Studio sets a Christmas release date for its horror film sequel", "neutral"),
        ("Occupancy ran in the low 80% range through the summer", "neutral"),
        ("Operational excellence is one of our four priorities", "neutral"),
        ("Higher steel costs are no longer weighing on the carmaker's margins", "positive"),
        ("Excluding the gain on the sale of its headquarters, net profit would have fallen 20%", "negative"),
    ],
)
def test_debuts_that_fizzle_gains_that_will_not_recur_costs_no_longer_weighing_and_what_is_excluded(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh48 (news accounts' posts, lead paragraphs, small and mid caps, executives' answers on calls)
        ("Shipping costs, uh, more than doubled in the quarter", "negative"),
        ("Honestly, the quarter was, um, much tougher than we had expected", "negative"),
        ("Yeah, it is pretty much the same seasonality as last year", "neutral"),
        (
            "Frankly, I'd love to tell you the new app is a hit, but downloads are 40% below what we forecast",
            "negative",
        ),
        ("I'd be lying if I said it was easy, but the plant started up three months early", "positive"),
        ("Love it or hate it, the stock is back on everyone's screen", "neutral"),
        ("The glucose monitor wins Medicare coverage", "positive"),
        ("Membership fees were up only 1% this year", "negative"),
        ("Labour costs were up only 1%", "positive"),
        ("The index suffered a record one-day drop", "negative"),
        ("We are not in a position to maintain the dividend at this level", "negative"),
        ("The company is withdrawing its full-year revenue guidance", "negative"),
        ("The rollout has been slower than we had planned", "negative"),
        ("The refit proved far more expensive than the budget allowed", "negative"),
        ("Retailers are sitting on too much inventory heading into the holidays", "negative"),
        ("We have more orders than we can build this year", "positive"),
        ("The efficiency programme is delivering more in savings than promised", "positive"),
        ("Hospital purchasing froze up in the second quarter", "negative"),
        ("Two large deals slipped out of the quarter", "negative"),
        ("Bond trading resumes on Tuesday after the holiday", "neutral"),
        ("Volumes were up high single digits", "positive"),
        ("Markets finished almost exactly where they started", "neutral"),
        ("After years of losses, the airline turned a profit", "positive"),
    ],
)
def test_a_speakers_fillers_tougher_than_expected_deals_that_slip_and_more_orders_than_can_be_built(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh50 (opinion titles, clubs, casinos, luxury, catastrophe losses, defence, AGMs, proxy advisers)
        ("Flutter no longer expects to turn a full-year profit in its US arm", "negative"),
        ("Hermes says its China sales decline slowed to 3% from 12%", "positive"),
        ("Nike's turnaround stalls again", "negative"),
        ("Cost overruns on the frigate programme are smaller than the $300m investors had feared", "positive"),
        ("At 40 times earnings, Walmart is no longer a bargain", "negative"),
        ("Kraft Heinz: Boring, But Finally Cheap", "positive"),
        ("Why Roche's pipeline is underappreciated", "positive"),
        ("Glass Lewis says the buyout terms undervalue minority shareholders", "negative"),
        ("Strong quarter, but the cash flow statement tells a darker story", "negative"),
        ("Hitting 20% margins by 2026 now looks a bridge too far", "negative"),
        ("The missile programme will get 40% less funding next year", "negative"),
        ("Leonardo came away empty-handed in the tender", "negative"),
        ("Five reasons Ford could surprise the bears", "positive"),
        ("The settlement ends a costly proxy fight at Masco", "positive"),
        ("ISS urges investors to back management at Elior", "positive"),
        ("The Pentagon drops its review of the Boeing contract", "positive"),
        ("Rheinmetall's backlog no longer covers three years of sales", "negative"),
        ("Aviva signs a £1.2bn pension risk transfer with a UK engineer", "positive"),
        ("Just Group completes £800m buy-in with a retailer's pension scheme", "positive"),
        ("A glossary of reinsurance terms, from cat bonds to sidecars", "neutral"),
        ("Shares of the club resume trading on Monday", "neutral"),
        ("All resolutions were passed as proposed at the AGM", "neutral"),
        ("Why the luxury slowdown doesn't scare me", "positive"),
    ],
)
def test_turnarounds_that_stall_bargains_no_more_proxy_fights_that_end_and_meetings_that_pass(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh52 (patent cliffs and drug pricing, recalls and probes, climate and crops, Latin America, notes)
        ("Storm damage at Pinecrest Power came in well above its insurance cover", "negative"),
        ("Repair costs are no longer expected to exceed the utility's insurance cover", "positive"),
        ("Recall costs fell to $9 million from $30 million", "positive"),
        ("The retailer sought court protection from its landlords", "negative"),
        ("A jury cleared Halden Tools of liability for the injuries", "positive"),
        ("Medicare picks Corvel's blood thinner for price negotiations", "negative"),
        ("The new rule takes about 5% off our 2027 sales estimate", "negative"),
        ("The patent cliff proved milder than feared", "positive"),
        ("The request for more years of market exclusivity was not granted", "negative"),
        ("The toy maker no longer expects to resume sales in Europe this year", "negative"),
        ("Early scripts are tracking ahead of consensus", "positive"),
        ("The court ruling removes our biggest concern about the stock", "positive"),
        ("We move the shares to Neutral from Underweight", "positive"),
        ("Analysts cut Bayer to Neutral from Buy", "negative"),
        ("Consensus looks too low for next year's margins", "positive"),
        ("The regulator drops its plan to ban menthol products", "positive"),
        ("The bond sale drew orders six times the deal size", "positive"),
        ("The long decline in subscribers halts", "positive"),
        ("The miner ended six quarters of falling output", "positive"),
        ("Drought cut wheat yields by a fifth", "negative"),
        ("Container rates tumble as new ships flood the market", "negative"),
        ("The recall notice lists the lot numbers of the affected jars", "neutral"),
        ("A trial date is yet to be set", "neutral"),
        ("The board approves the previously announced special dividend", "neutral"),
        ("Our cocoa is grown by 40,000 smallholders", "neutral"),
        ("The sell-off in Grupo Norte on Monday was overdone", "positive"),
    ],
)
def test_costs_above_the_cover_ratings_moved_from_one_to_another_plans_dropped_and_crop_yields(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh54 (two companies at once, transport, chips and phones, small US banks, central banks)
        ("Recession risks have eased, the central bank said", "positive"),
        ("Wage growth cooled to 3% in March", "positive"),
        ("Core prices jumped 0.6% in May", "negative"),
        ("Joblessness fell to its lowest level since 2008", "positive"),
        ("The strike threat at the port fades after a pay deal", "positive"),
        ("Investors fear rates will stay higher for longer", "negative"),
        ("The minister cut next year's growth forecast to 1%", "negative"),
        ("Net interest margin widened only 3 basis points", "negative"),
        ("Shipments fell 2%, half the decline analysts had expected", "positive"),
        ("Deposits rose, contrary to fears of an outflow", "positive"),
        ("Regulators approve a 5% rate increase for Midstate Electric", "positive"),
        ("The biotech will not receive the $50 million milestone payment this year", "negative"),
        ("A further rate hike is no longer on the table", "positive"),
        ("The plant was sold at a price 20% below the one agreed in May", "negative"),
        ("Orion Semiconductor to buy back $2 billion of its shares", "positive"),
        ("The limited-edition console sells out in minutes", "positive"),
        ("The memory chip glut is over, the chipmaker said", "positive"),
        ("The lease comes up for renewal in 2027", "neutral"),
        ("The unemployment rate rose to 5.2%, its highest level since 2015", "negative"),
    ],
)
def test_costs_of_the_economy_a_move_only_so_far_and_what_is_no_longer_on_the_table(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh56 (figure flashes, telecoms, miners, Asian conglomerates, European companies' statements)
        ("Daewon Steel swings to a ₩80B Q3 net loss", "negative"),
        ("Hofmann AG must adjust its forecast for the current year", "negative"),
        ("The REIT's spin-off priced at a 20% discount to book value", "negative"),
        ("New shares will be issued at a price well below the current share price", "negative"),
        ("The bank must hold an additional capital buffer of one percentage point", "negative"),
        ("Tavira Mining will restart its copper smelter in March", "positive"),
        ("Lithium producer mothballs its second plant", "negative"),
        ("Most nickel miners now sell below cost", "negative"),
        ("Golden Ridge cuts 2026 AISC guidance to $1,050/oz", "positive"),
        ("The new law lifts the group's tax rate to 32%", "negative"),
        ("Telia Nord cuts capex guidance as the network build ends early", "positive"),
        ("Yellowhammer drills 22 m at 6.1 g/t Au", "positive"),
        ("The junior strikes gold at its Nevada project", "positive"),
        ("Pharmion receives EU marketing authorisation for its migraine drug", "positive"),
        ("The review is not expected to result in a fine", "positive"),
        ("The operator no longer expects to reach 5 million fibre customers by 2027", "negative"),
        ("The company can no longer exclude a delay to the plant's start-up", "negative"),
        ("Contract churn steady at 1.1% as prices rise", "positive"),
        ("The brewer celebrates its 200th anniversary with a party for staff", "neutral"),
        ("A primer on Japan's cross-shareholdings", "neutral"),
        ("A history of copper's boom years", "neutral"),
        ("Q2 sales of $2.31 billion exactly matched consensus", "neutral"),
        ("The new CFO succeeds retiring finance chief Anna Berg", "neutral"),
    ],
)
def test_a_miners_costs_capex_cut_grams_per_tonne_and_what_cannot_be_excluded(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh58 (UK retail and housebuilders, European banks and insurers, carmakers, gig work, strategy)
        ("Profit will shrink rather than grow next year", "negative"),
        ("Our 15% margin target is now pushed out to 2030", "negative"),
        ("The 2027 sales goal is out of reach", "negative"),
        ("The bank warns that last quarter's trading gain was a one-off", "negative"),
        ("Strong bookings fail to stop the airline's shares from falling", "negative"),
        ("The rebound in margins proved too good to last", "negative"),
        ("About €1bn of fresh capital will need to be raised next year", "negative"),
        ("There is no need for a capital increase this year", "positive"),
        ("The insurer's combined ratio rose to 99% from 94%", "negative"),
        ("Claims inflation eased in the second half", "positive"),
        ("Restructuring costs are now roughly double the figure given in May", "negative"),
        ("Impairment charges came in at half the level analysts expected", "positive"),
        ("Losses at the Spanish unit should disappear by next year", "positive"),
        ("Weekly sales rate rebounds to 0.7 per site", "positive"),
        ("Pre-tax profit doubles to £80m", "positive"),
        ("Higher energy costs will erode about 100 basis points of margin", "negative"),
        ("Fee income halts a two-month slide", "positive"),
        ("The carmaker releases €200m of warranty provisions", "positive"),
        ("Fewer claims than it had feared lift the insurer", "positive"),
        ("The group plans £2bn of shareholder distributions by 2027", "positive"),
        ("Contrary to what many had feared, the bank needs no new capital", "positive"),
        ("The target of 500 new stores has been quietly dropped", "negative"),
        ("The factory closes for its annual summer break", "neutral"),
        ("The retailer opens at 6am on Boxing Day, as it does every year", "neutral"),
    ],
)
def test_rather_than_one_offs_targets_pushed_out_and_costs_at_half_the_level(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh60 (short reports and rebuttals, accounting troubles, developers, gadgets, stock apps' alerts)
        ("The new handset is killing it in Europe", "positive"),
        ("Its winning streak is long gone", "negative"),
        ("Material weakness in its controls no longer exists, the auditor said", "positive"),
        ("The restatement turned out to be a non-event", "positive"),
        ("The company's rebuttal fails to address the short seller's claims", "negative"),
        ("An outside review found no evidence to support the fraud allegations", "positive"),
        ("The court found the company was wrongly accused of fraud", "positive"),
        ("The hedge fund has closed its short position in Corvel", "positive"),
        ("Form 4: the CEO buys $2 million of stock", "positive"),
        ("The SEC closed its two-year review of the bank's accounts", "positive"),
        ("The deal removes the threat of insolvency", "positive"),
        ("The carmaker cancelled its supply contract with Lumix", "negative"),
        ("The developer missed a $20 million coupon payment", "negative"),
        ("The auditor declined to sign off on the accounts", "negative"),
        ("The board will return $3 billion to shareholders", "positive"),
        ("The landlord cut rents at three malls", "negative"),
        ("The filing ends two years of losses", "positive"),
        ("ORBX breaks out above its 200-day average", "positive"),
        ("MKTS crosses $100 for the first time", "positive"),
        ("The developer sold out all 300 flats in a day", "positive"),
        ("The towers were handed over two months ahead of schedule", "positive"),
        ("Shares recovered all of Monday's losses", "positive"),
        ("The charge was far less than the $2 billion analysts had feared", "positive"),
        ("The fear gauge climbed to a one-year high", "negative"),
        (
            "The developer's contracted sales came in at AED 4.1 billion versus AED 5.0 billion expected",
            "negative",
        ),
        ("ZRTX added to Most Active list", "neutral"),
        ("Options alert: ZRTX implied volatility at 55%", "neutral"),
        ("The new controller goes on sale on Friday", "neutral"),
        ("The company will respond to the report in due course", "neutral"),
        ("Trading halted: news pending", "neutral"),
    ],
)
def test_short_reports_answered_weaknesses_gone_coupons_missed_and_app_alerts(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh62 (income stocks, REITs and infrastructure, utilities and services, staffing, annual reports)
        ("We had hoped for a stronger second half", "negative"),
        ("The utility will pay its dividend in scrip rather than cash", "negative"),
        ("The rights issue will add 10% to the share count", "negative"),
        ("The miner scraps its scrip dividend", "positive"),
        ("The buyback ends years of dilution", "positive"),
        ("Bookings rose, reversing two quarters of decline", "positive"),
        ("We did not deliver the margin improvement we promised", "negative"),
        ("The hotel chain is no longer on course to meet its 2026 target", "negative"),
        ("Every one of our stores ended the year in profit", "positive"),
        ("The payout cut raises fresh doubts about the turnaround", "negative"),
        ("The new levy will knock £40 million off profit", "negative"),
        ("The smallest increase in a decade disappointed income investors", "negative"),
        ("Sales came in below the 3% analysts expected", "negative"),
        ("The firm disclosed an accounting shortfall of £8 million", "negative"),
        ("Customer complaints fell by a third", "positive"),
        ("Leakage rose for a second year", "negative"),
        ("The pension deficit has shrunk to £20 million", "positive"),
        ("The trust's discount to NAV narrowed to 5%", "positive"),
        ("The supply chain headwinds have largely blown over", "positive"),
        ("As announced in May, the chairman will retire at the AGM", "neutral"),
        ("I would like to thank our employees for their hard work", "neutral"),
        ("The new CFO will chair the risk committee", "neutral"),
        ("The principal risks can be found on page 40", "neutral"),
        ("The REIT pays its annual dividend in two instalments", "neutral"),
    ],
)
def test_hopes_that_did_not_come_scrip_dividends_costs_of_a_utility_and_annual_report_boilerplate(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh64 (commodity traders, steel and chemicals, offerings and lock-ups, ETF flows, TV commentators)
        ("The biotech's $200 million equity raise will dilute holders by 12%", "negative"),
        ("Clients pulled money from the fund for a sixth month", "negative"),
        ("Growth came in well below the 10% pace investors had grown used to", "negative"),
        ("The steelmaker's price hikes have stopped sticking", "negative"),
        ("Pricing power like this is rare", "positive"),
        ("This stock doesn't get enough credit", "positive"),
        ("The secondary offering was a gut punch for holders", "negative"),
        ("The trader swings to a $90 million net profit", "positive"),
        ("Licensing fees are not expected to contribute anything next year", "negative"),
        ("Retail investors are piling back into the steel stocks", "positive"),
        ("The trading arm is printing money again", "positive"),
        ("The chemicals group reverses last month's profit warning", "positive"),
        ("The placing priced 6% below market", "negative"),
        ("The division made half what it made a year ago", "negative"),
        ("The turnaround is real", "positive"),
        ("The miner was blindsided by the export ban", "negative"),
        ("Founders pledge not to sell their shares for a year", "positive"),
        ("Losses came in at a third of what analysts had feared", "positive"),
        ("The dividend stays intact despite the weak quarter", "positive"),
        ("Cane yields plunged 20% after the drought", "negative"),
        ("The asset manager's fee rate fell again", "negative"),
        ("The plant makes steel from scrap", "neutral"),
        ("Nothing has changed in the business, the CEO said", "neutral"),
        ("The subscription period for the rights issue ends on Friday", "neutral"),
    ],
)
def test_dilutive_raises_money_pulled_hikes_that_stop_sticking_and_commentators_words(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh66 (a global market's week in a general business paper: headlines and first sentences)
        ("The retailer's sales slide halts at last", "positive"),
        ("The drug failed to slow memory decline in the trial", "negative"),
        ("Its main patent expires next year", "negative"),
        ("A bidding war for the brewer pushes the offer higher", "positive"),
        ("The drug is not expected to face generic competition before 2030", "positive"),
        ("Currency swings took a $90 million bite out of revenue", "negative"),
        ("Net interest income fell by less than analysts had modelled", "positive"),
        ("Full-year profit came in better than its own guidance", "positive"),
        ("Bookings hardly budged despite the price cuts", "negative"),
        ("The bank's capital plan no longer passes muster with the regulator", "negative"),
        ("The appeal against the fine fell flat", "negative"),
        ("Loan losses stayed well below provisions", "positive"),
        ("The dividend was kept at 20p; analysts had pencilled in a cut", "positive"),
        ("Record sales fail to lift the shares", "negative"),
        ("The new handset sells out within minutes", "positive"),
        ("The rally in bank stocks proves short-lived", "negative"),
        ("The margin squeeze proves short-lived", "positive"),
        ("Inside the busiest trading floor in Asia", "neutral"),
        ("The week ahead: central banks and retail sales", "neutral"),
        ("What traders will watch this week", "neutral"),
        ("Shareholders approve the board slate", "neutral"),
        ("The founder retires under a long-planned succession", "neutral"),
        ("The insurer reports quarterly premiums of $2.1 billion", "neutral"),
        ("Profit rose 10% as the group exited low-margin contracts", "positive"),
    ],
)
def test_slides_that_halt_patents_that_expire_what_proves_short_lived_and_the_week_ahead(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh68 (cyber and outages, vice regulation, space, nuclear and hydrogen, credit analysts' notes)
        ("The update eased fears of a customer exodus", "positive"),
        ("The audit found no material impact from the outage", "positive"),
        ("Cloud revenue grew just 3% in the quarter", "negative"),
        ("The insurer's five-year CDS widened to 180 bps", "negative"),
        ("Strong demand let the utility cut the coupon on its new bonds", "positive"),
        ("The new-issue concession widened to 40 bps", "negative"),
        ("The government lifts excise duty on spirits by 10%", "negative"),
        ("The group faces a higher tax bill next year", "negative"),
        ("Faster deleveraging lifted the bonds", "positive"),
        ("The Treasury shelves the planned duty rise on beer", "positive"),
        ("The refinancing removes the near-term default risk", "positive"),
        ("The cannabis grower posts its first quarterly net profit", "positive"),
        ("The new loan is proving costlier than guided", "negative"),
        ("The airline pushes its first flights back to 2028", "negative"),
        ("The delay spares the brewer a hit to sales", "positive"),
        ("A judge put the mine's permit on hold", "negative"),
        ("The rocket fails to reach orbit", "negative"),
        ("A cheerful call couldn't hide a 20% drop in orders", "negative"),
        ("The reactor design was picked by a Polish utility", "positive"),
        ("The refinery enters a scheduled maintenance shutdown", "neutral"),
        ("S&P rates the senior unsecured notes BBB-", "neutral"),
        ("Rocket Lab sets its next launch for Friday", "neutral"),
    ],
)
def test_a_borrowers_costs_fears_eased_hits_spared_and_rockets_that_fail_to_reach_orbit(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # what fresh70 (regional business desks: plants, jobs, community banks, rate cases, hospitals, casinos)
        ("The hotel sale collapsed after the buyer failed to secure financing", "negative"),
        ("The mall owner fills its last vacant store with a grocer", "positive"),
        ("A cheerful outlook can't mask the widening losses", "negative"),
        ("The water utility has withdrawn its proposed purchase of the town system", "negative"),
        ("Regulators ordered a rate freeze for the utility's customers", "negative"),
        ("The state board sides with the utility in the billing dispute", "positive"),
        ("Lower reimbursement rates cut the hospital's margin", "negative"),
        ("Nonperforming assets fell to 0.8% of total assets", "positive"),
        ("The casino operator cut its interest bill by a fifth", "positive"),
        ("The bank entered a formal agreement with its regulator", "negative"),
        ("The company will reopen its shuttered paper plant", "positive"),
        ("Short sellers burned as the regional lender beats estimates", "positive"),
        ("The sawmill is running full shifts again", "positive"),
        ("Higher sales were more than offset by rising wage costs", "negative"),
        ("Savings at the plant were not enough to offset the unit's loss", "negative"),
        ("The group will permanently close its Ohio foundry", "negative"),
        ("The bank set aside more money for soured farm loans", "negative"),
        ("The company is no longer in compliance with the listing rules", "negative"),
        ("The expansion will create 200 new jobs", "positive"),
        ("Actual results could differ materially from these statements", "neutral"),
        ("The deal is subject to customary closing conditions", "neutral"),
        ("The union and the hospital will resume talks on Monday", "neutral"),
        ("The meatpacker is based in Sioux Falls", "neutral"),
    ],
)
def test_financing_that_fails_rate_freezes_plants_reopened_and_gains_outweighed(
    lexicon: FinanceLexicon, text: str, expected: str
) -> None:
    assert label(lexicon, text)[0] == expected
