"""`investiq evaluate finbert`: the sentiment models judged on labeled texts (investiq/ops/sentiment_eval.py)."""

from __future__ import annotations

from pathlib import Path

import click

from investiq.cli.options import config_option, csv_option, settings_from
from investiq.ops import sentiment_eval


@click.command("finbert")
@config_option
@csv_option(
    help="Labeled texts: a CSV with a header row and columns text,label (label: positive, negative or neutral; "
    "any case), optionally split (figures are then also given per split); or Financial PhraseBank as published: "
    "label,text rows without a header (all-data.csv) or sentence@label lines (Sentences_*.txt). UTF-8, or else "
    f"read as Windows-1252. Default: the committed labeled headlines ({sentiment_eval.HEADLINES.name}).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Report folder (default: MODELS_DIR/sentiment-evaluation).",
)
@click.option(
    "--repository",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Model repository holding the exported FinBERT (default: setting model_repository).",
)
@click.option(
    "--quantize/--no-quantize",
    default=None,
    help="Judge FinBERT's INT8 or fp32 ONNX variant (default: setting quantize, what the gateway serves).",
)
@click.option(
    "--held-out",
    default="",
    metavar="SPLITS",
    help="Comma-separated splits kept to judge later changes (e.g. fresh8,fresh10): their figures are reported, "
    "their mistakes only counted, so that nobody tuning the lexicon reads them.",
)
def evaluate_finbert(
    config: Path | None,
    csv_path: Path | None,
    out: Path | None,
    repository: Path | None,
    quantize: bool | None,
    held_out: str,
) -> None:
    """Judge the serving sentiment model on labeled texts, against the finance lexicon and VADER.

    Scores every text as the gateway would: FinBERT from the model repository when it is exported
    (ONNX Runtime, the variant `quantize` selects), the finance lexicon (what the gateway answers
    with when FinBERT is not exported) and VADER alone (the fallback before it). Without FinBERT the
    lexicon is the serving model. No network is used.

    \b
    Writes into --out:
      report.md     per model and part (all, and each split): accuracy, macro-F1, log loss, mean
                    confidence and calibration error; confusion matrices; calibration tables
                    (confidence of the predicted label, in bins of 0.1, against accuracy); the
                    most confident mistakes (with the lexicon's evidence for its own)
      report.json   every figure, and every mistake (but those of --held-out splits)

    A file without the text and label columns, or with an empty text or an unknown label, is
    refused with the lines named.
    """
    settings = settings_from(config, model_repository=repository, quantize=quantize)
    parts = frozenset(p.strip() for p in held_out.split(",") if p.strip())
    sentiment_eval.evaluate_sentiment(
        settings, csv_path, out or settings.models_dir / "sentiment-evaluation", log=click.echo, held_out=parts
    )
