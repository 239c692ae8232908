"""Labeled texts read as people have them: CSVs with a header, Financial PhraseBank's all-data.csv and
Sentences_*.txt, UTF-8 or Windows-1252; every unusable row named by its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from investiq.core.finbert import LABELS
from investiq.core.texts import LabeledDataError, read_labeled


def test_labels_in_any_case_and_a_byte_order_mark_are_read(tmp_path: Path):
    data = tmp_path / "excel.csv"
    data.write_text("\ufeffText,Label\nApple beats estimates,POSITIVE\n", encoding="utf-8")
    labeled = read_labeled(data)
    assert labeled.texts == ["Apple beats estimates"] and labeled.labels.tolist() == [0] and labeled.splits == [""]


def test_phrasebank_rows_without_a_header_are_read_and_unquoted_commas_are_named(tmp_path: Path):
    bank = tmp_path / "all-data.csv"  # Financial PhraseBank's form: label,text and no header
    bank.write_text(
        'neutral,"According to Gran, the company has no plans"\npositive,Profit rose\n', encoding="utf-8"
    )
    labeled = read_labeled(bank)
    assert labeled.texts == ["According to Gran, the company has no plans", "Profit rose"]
    assert labeled.labels.tolist() == [LABELS.index("neutral"), LABELS.index("positive")]
    loose = tmp_path / "loose.csv"  # the line of a row after a quoted text over two lines is its line in the file
    loose.write_text(
        'label,text\npositive,Tesco raises guidance, profit up\nnegative,"multi\nline"\nneutral,x,y\n'
    )
    with pytest.raises(LabeledDataError, match=r"line 2: more fields than columns .*; line 5: more fields"):
        read_labeled(loose)


def test_phrasebank_sentence_at_label_lines_in_its_own_encoding_are_read(tmp_path: Path):
    bank = tmp_path / "Sentences_AllAgree.txt"  # as published: sentence@label lines, Latin-1, CRLF
    bank.write_bytes(
        "Sales in S\u00e3o Paulo rose , the company said .@positive\r\n"
        "Profit fell to EUR 2 mn from EUR 3 mn ; net sales @ EUR 10 mn .@negative\r\n"
        "\r\n"
        "The contract is worth EUR 11 \u20acmn .@Neutral\r\n".encode("cp1252")
    )
    labeled = read_labeled(bank)
    assert labeled.encoding == "cp1252"
    assert labeled.texts == [
        "Sales in S\u00e3o Paulo rose , the company said .",
        "Profit fell to EUR 2 mn from EUR 3 mn ; net sales @ EUR 10 mn .",  # only the last @ parts the label
        "The contract is worth EUR 11 \u20acmn .",
    ]
    assert labeled.labels.tolist() == [LABELS.index(x) for x in ("positive", "negative", "neutral")]
    utf8 = tmp_path / "utf8.txt"
    utf8.write_text("Caf\u00e9 chain opens stores@neutral\nShares slump@negative\nno label here\nx@bullish\n")
    with pytest.raises(
        LabeledDataError, match=r"2 unusable rows .*line 3: no @label at the end; line 4: unknown label 'bullish'"
    ):
        read_labeled(utf8)


def test_a_file_in_latin_1_is_read_as_such(tmp_path: Path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\nSales in S\u00e3o Paulo rose,positive\n".encode("latin-1"))
    labeled = read_labeled(latin)
    assert labeled.texts == ["Sales in S\u00e3o Paulo rose"] and labeled.encoding == "cp1252"
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text("text,label\nCaf\u00e9 chain opens stores,neutral\n", encoding="utf-8")
    assert read_labeled(utf8).encoding == "utf-8" and read_labeled(utf8).read_as() == ""
