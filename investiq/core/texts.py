"""Texts as the sentiment models take them: `normalize`, and labeled texts read from the files people have.

    data = read_labeled(Path("Sentences_AllAgree.txt"))  # Financial PhraseBank as published
    data.texts, data.labels, data.encoding                  # normalized, each once; indexes into LABELS; "cp1252"

Read by `investiq evaluate finbert` (judging) and `investiq train finbert` (fine-tuning), so both take the
same files: a CSV with a text,label[,split] header; label,text rows without one (PhraseBank's all-data.csv);
or sentence@label lines (its Sentences_*.txt). UTF-8, or else Windows-1252, the encoding of PhraseBank's
files and of Excel's CSVs on Western Windows.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from investiq.core.errors import InvestIQError
from investiq.core.finbert import LABELS

ENCODINGS = {
    "utf-8": "UTF-8",
    "cp1252": "Windows-1252 (Latin-1 with curly quotes and the euro sign)",
    "latin-1": "Latin-1",
}
SHOWN = 10  # unusable rows named in the error, the rest counted

Rows = list[tuple[int, str, str, str]]  # (line, text, label, split) as written
Problems = list[tuple[int, str]]  # (line, what is wrong)


class LabeledDataError(InvestIQError, ValueError):
    """A labeled file cannot be used; the message names the file, the lines and what to change."""


@dataclass(frozen=True)
class Labeled:
    texts: list[str]  # normalized, each once
    labels: NDArray[np.int64]  # index into LABELS
    splits: list[str]  # "" where the file has no split column
    repeats: int = 0  # rows left out: the same text again with the same label (counted once)
    conflicts: int = 0  # texts left out: labeled two or more ways (no truth to judge them on)
    encoding: str = "utf-8"  # what the file was read as: a key of ENCODINGS

    def read_as(self) -> str:
        """What a log says of the encoding: "" for UTF-8, else "not UTF-8: read as Windows-1252 (...)"."""
        return "" if self.encoding == "utf-8" else f"not UTF-8: read as {ENCODINGS[self.encoding]}"


def normalize(text: str) -> str:
    """The form that is scored, cached and journaled: NFC, invisible characters dropped, whitespace runs
    collapsed, trimmed. Invisible means Unicode category C other than whitespace: control (NUL, ESC),
    format (zero-width space, BOM), unpaired surrogates (a JSON "\\ud800" escape: not UTF-8, so neither the
    tokenizer nor SQLite can take it). Scraped headlines carry such debris, and BERT's tokenizer drops the
    same characters, so dropping them here changes no score; refusing would fail a whole batch for a byte."""
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():  # the rare text with a character beyond plain spaces and visible ones
        text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())


def read_labeled(path: Path) -> Labeled:
    """The labeled texts of a file (see the module), labels in any case, each text once (`_once`).
    LabeledDataError naming the first SHOWN unusable rows by their line in the file (an empty text, an unknown
    label, more fields than columns), or when no text is left."""
    text, encoding = _decoded(path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    phrasebank = re.search(rf"@({'|'.join(LABELS)})\s*$", first, re.IGNORECASE) is not None
    rows, problems = _phrasebank_rows(text) if phrasebank else _csv_rows(text, path)
    texts: list[str] = []
    labels: list[int] = []
    splits: list[str] = []
    for line, raw, written, split in rows:
        sentence, label = normalize(raw), written.strip().lower()
        if not sentence:
            problems.append((line, "empty text"))
        elif label not in LABELS:
            problems.append((line, f"unknown label {written.strip()!r}"))
        else:
            texts.append(sentence)
            labels.append(LABELS.index(label))
            splits.append(split.strip())
    if problems:
        shown = "; ".join(f"line {line}: {what}" for line, what in sorted(problems)[:SHOWN])
        more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise LabeledDataError(
            f"{path}: {len(problems)} unusable rows (labels must be one of {', '.join(LABELS)}): {shown}{more}"
        )
    if not texts:
        raise LabeledDataError(f"{path} has a header but no rows")
    data = replace(_once(texts, labels, splits), encoding=encoding)
    if not data.texts:
        raise LabeledDataError(f"{path}: every text is labeled two or more ways; nothing to learn or judge on")
    return data


def _once(texts: list[str], labels: list[int], splits: list[str]) -> Labeled:
    """Each text once: a repeat with the same label counts once (the first row's split), a text labeled two ways
    is left out (Financial PhraseBank repeats some sentences: scored twice they would weigh double, and in
    training they would land on both sides of the validation split)."""
    rows: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        rows.setdefault(text, []).append(i)
    agreed = [found for found in rows.values() if len({labels[i] for i in found}) == 1]
    keep = sorted(found[0] for found in agreed)
    return Labeled(
        [texts[i] for i in keep],
        np.array([labels[i] for i in keep], dtype=np.int64),
        [splits[i] for i in keep],
        repeats=sum(len(found) - 1 for found in agreed),
        conflicts=len(rows) - len(agreed),
    )


def _decoded(path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was read in: UTF-8 (a byte order mark dropped) when it is UTF-8, else
    Windows-1252, else Latin-1 (a byte Windows-1252 leaves undefined; Latin-1 reads any byte)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabeledDataError(f"cannot read {path}: {exc.strerror}") from None
    for codec, encoding in (("utf-8-sig", "utf-8"), ("cp1252", "cp1252")):
        try:
            return data.decode(codec), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _phrasebank_rows(text: str) -> tuple[Rows, Problems]:
    """The rows of `sentence@label` lines (the last @ parts the label), blank lines skipped, and the problems."""
    rows: Rows = []
    problems: Problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        sentence, at, label = line.rpartition("@")
        if at:
            rows.append((number, sentence, label, ""))
        else:
            problems.append((number, "no @label at the end"))
    return rows, problems


def _csv_rows(text: str, path: Path) -> tuple[Rows, Problems]:
    """The rows of a CSV with a text,label[,split] header, or of label,text rows without one, and the problems;
    a row's line is where it ends in the file (a quoted text may span lines)."""
    rows: Rows = []
    problems: Problems = []
    handle = io.StringIO(text, newline="")
    try:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if len(columns) == 2 and columns[0] in LABELS:  # no header: label,text rows, the first one included
            handle.seek(0)
            reader = csv.DictReader(handle, fieldnames=["label", "text"])
        elif not {"text", "label"} <= set(columns):
            raise LabeledDataError(
                f"{path} needs a header row with columns text,label (and optionally split), no header and "
                f"label,text rows, or sentence@label lines; found {', '.join(columns) if columns else 'no header'}"
            )
        else:
            reader.fieldnames = columns
        for row in reader:
            if row.get(None):  # type: ignore[call-overload, unused-ignore]  # extra fields, under None
                problems.append((reader.line_num, "more fields than columns (quote a text that holds a comma)"))
            else:
                rows.append((reader.line_num, row["text"] or "", row["label"] or "", row.get("split") or ""))
    except csv.Error as exc:
        raise LabeledDataError(f"{path} is not a readable CSV: {exc}") from None
    return rows, problems
