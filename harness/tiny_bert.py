"""A tiny random BERT sentiment classifier and a WordPiece tokenizer trained here: a real Hugging
Face directory that the real loading, export and serving code can use offline."""

from __future__ import annotations

from pathlib import Path

from harness import random_bert

CORPUS = [
    "stocks rally as earnings beat estimates",
    "shares fall after the company cuts guidance",
    "the central bank holds rates steady",
    "profit warning sends shares sharply lower",
    "record revenue lifts the outlook",
    "regulators fine the bank over compliance failures",
    "oil prices are little changed",
    "dividend raised after a strong quarter",
]
LAYERS = 2
INTERMEDIATE = 48  # the feed-forward's inner width


def build(directory: Path, *, seed: int = 0, labels: dict[int, str] | None = None) -> Path:
    return random_bert.build(
        directory,
        CORPUS * 4,
        vocab_size=300,
        seed=seed,
        labels=labels,
        logit_scale=20.0,
        hidden_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=128,
    )


def exported(root: Path, repo: Path | None = None) -> tuple[Path, Path]:
    """The tiny BERT built into root/hf and exported (validated, as `investiq export` does) into `repo`
    (default root/repo): (its Hugging Face directory, the model repository)."""
    from export.finbert import export_finbert

    source, repo = build(root / "hf"), repo or root / "repo"
    export_finbert(str(source), repo, log=lambda _: None)
    return source, repo
