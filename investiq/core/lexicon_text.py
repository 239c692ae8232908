"""How the finance lexicon cuts a text into words (`tokenize`), and whether the text is English at all
(`not_english`)."""

from __future__ import annotations

import re

from investiq.core.comparisons import sentence_ends

_APOSTROPHE_S = re.compile(r"['’]s\b")
_NOT = re.compile(r"n['’]t\b")
_DASH = re.compile(r"\s[-–—]+\s|[–—]")
# A percentage with its sign, as tickers and live blogs write a move ("DDOG +9% after hours", "Nikkei -1.2%",
# "▼ 3%"): the sign is the move's direction, read as "up"/"down" (the sign was dropped, and "+9%" was no evidence).
# Not a range ("5-9%") or a figure's own hyphen ("Q3-2%": a word or figure just before)
_SIGNED = re.compile(r"(?<![\w.%+\-−])([+\-−▲▼])\s?(?=\d[\d.,]*\s?%)")
# A ticker in brackets ("Corvid Pharmaceuticals (CRVD) climbs", "(NASDAQ:AAPL)", "(BRK.B)") is a name, not the end
# of a clause: the bracket cut "short interest in Corvid" from "climbs" (fresh34)
_TICKER = re.compile(r"\((?:[A-Z]{2,6}:)?[A-Z]{1,6}(?:\.[A-Z]{1,2})?\)")
# What a speaker says while thinking ("Freight costs, uh, basically doubled", "it's, you know, more realistic"):
# no words of the text, and its commas no clause's end (the commas around "uh" cut "costs" from "doubled": fresh48)
_FILLER = re.compile(r"(?:,\s*)?\b(?:uh+|um+|erm|you know|i mean)\b(?:\s*,)?|,\s*i think\s*,")
_FILLER_WORDS = ("uh", "um", "erm", "you know", "i mean", "i think")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # "410,000 customers": one figure, no clause break inside
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
    """Lower-case words and numbers, and the punctuation that ends a clause, a sentence's full stop as ";" (a
    bracketed ticker and a speaker's fillers, "uh", "you know", are dropped):
    "Moody's" -> "moody", "didn't" -> "did not", "wider-than-expected" -> "wider than expected", "+9%" -> "up 9",
    "Corvid (CRVD) climbs" -> "corvid climbs"."""
    text = _NOT.sub(" not", _APOSTROPHE_S.sub("", _TICKER.sub(" ", text).lower()))
    if ". " in text:  # a full stop ends a sentence, and its clause, as ";" does (not in "U.S." or "Inc.")
        for end in reversed(sentence_ends(text)):
            if text[end - 1] == ".":
                text = f"{text[: end - 1]};{text[end:]}"
    text = _THOUSANDS.sub("", text)
    if any(word in text for word in _FILLER_WORDS):  # most texts have none: the substitution scans every comma
        text = _FILLER.sub(" ", text)
    text = _SIGNED.sub(lambda m: " up " if m.group(1) in "+▲" else " down ", text)
    return _TOKEN.findall(_DASH.sub(" , ", text))
