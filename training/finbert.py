"""Fine-tuning FinBERT on labelled texts (CSV with columns text,label).

    investiq train finbert --dataset data.csv --output-dir models/finbert-tuned

Stratified train/validation split, AdamW, accuracy and macro-F1 on validation after every epoch;
the best epoch is saved as a Hugging Face directory that `investiq export finbert --source` takes.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.artifacts import METRICS
from investiq.core.atomic import staged
from investiq.core.finbert import LABELS, MAX_TOKENS, WeightsError, weights_reachable
from investiq.core.texts import LabeledDataError, read_labeled


@dataclass(frozen=True)
class FinetuneConfig:
    """How FinBERT is fine-tuned. `base` has no default here: it is the finbert_model setting unless given."""

    base: str
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 2e-5
    val_fraction: float = 0.2
    max_tokens: int = MAX_TOKENS
    seed: int = 0


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    train_loss: float
    accuracy: float
    macro_f1: float


# The files a Hugging Face model directory needs, each need met by any one of its names (weights: one file or
# the index of shards).
NEEDS = {
    "config.json": ("config.json",),
    "model weights (model.safetensors or pytorch_model.bin)": (
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
    ),
    "tokenizer (tokenizer.json or vocab.txt)": ("tokenizer.json", "vocab.txt"),
}


EXPORT_NEXT = (
    "`investiq export finbert --source models/finbert` (or set finbert_model in config.yaml). Until then the "
    "gateway answers with the finance lexicon fallback."
)
TRAIN_NEXT = "run `investiq train finbert` again with `--base models/finbert`."


def load_pretrained(source: str, then: str = EXPORT_NEXT) -> tuple[Any, Any]:
    """(model, tokenizer) from a local directory, the Hugging Face cache or the hub (downloads show
    a progress bar). Raises WeightsError with what to do when they cannot be had: download, copy, `then`."""
    reason = unloadable(source)
    if reason is None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        source = local(source)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForSequenceClassification.from_pretrained(source)
        except (OSError, ValueError) as exc:  # ValueError: a tokenizer that cannot be built
            reason = str(exc).strip().splitlines()[0]
        else:
            if not getattr(tokenizer, "is_fast", False):
                raise WeightsError(f"{source!r} has no fast tokenizer (tokenizer.json); install `tokenizers`")
            return model.eval(), tokenizer
    raise WeightsError(
        f"cannot load FinBERT weights: {reason}.\n"
        "On a machine with internet: `hf download ProsusAI/finbert --local-dir models/finbert`, "
        f"copy models/finbert here, then {then}"
    )


def path_like(source: str) -> bool:
    """Whether `source` names a directory, never a Hugging Face model id (which is `name` or `owner/name`)."""
    return source.startswith((".", "~", "/")) or "\\" in source or source.count("/") > 1


def local(source: str) -> str:
    """`source` with a leading ~ expanded when it names a directory; a model id as it is."""
    return str(Path(source).expanduser()) if path_like(source) else source


def unloadable(source: str) -> str | None:
    """None if `source` can be loaded now, else why not: a directory lacking the files of a model, a
    path-looking source that is no directory, or an id neither cached nor reachable."""
    directory = Path(local(source))
    if directory.is_dir():
        return lacking(directory)
    if path_like(source):
        return f"{source!r} is not a local directory"
    try:
        return weights_reachable(source)
    except ValueError:  # huggingface_hub's HFValidationError: not the form of a model id either
        return f"{source!r} is not a local directory, nor a Hugging Face model id (`name` or `owner/name`)"


def lacking(directory: Path) -> str | None:
    """None if `directory` holds a config, weights and a tokenizer, else which of them it lacks."""
    missing = [what for what, names in NEEDS.items() if not any((directory / n).is_file() for n in names)]
    if not missing:
        return None
    return f"the folder {str(directory)!r} has no {', no '.join(missing)}: it is not a Hugging Face model folder"


def read_dataset(path: Path, log: Callable[[str], None] = print) -> list[tuple[str, str]]:
    """(text, label) rows of a labeled file in any form `investiq.core.texts.read_labeled` takes, each text once
    (a repeat on both sides of the validation split would flatter it); LabeledDataError when unusable."""
    data = read_labeled(path)
    if data.repeats or data.conflicts:
        log(f"{path}: left out {data.repeats} repeated rows and {data.conflicts} texts labeled two or more ways")
    if data.read_as():
        log(f"{path}: {data.read_as()}")
    if len(set(data.labels.tolist())) < 2:
        raise LabeledDataError(f"{path} needs at least two different labels to learn anything")
    return [(text, LABELS[label]) for text, label in zip(data.texts, data.labels.tolist(), strict=True)]


def stratified_split(
    rows: list[tuple[str, str]], val_fraction: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The same share of every label in validation (at least one of a label that has two rows)."""
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        n_val = max(1, round(len(group) * val_fraction)) if len(group) >= 2 else 0
        val += group[:n_val]
        train += group[n_val:]
    return train, val


def macro_f1(truth: NDArray[np.int64], pred: NDArray[np.int64], n_classes: int) -> float:
    scores = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (truth == c))
        fp = np.sum((pred == c) & (truth != c))
        fn = np.sum((pred != c) & (truth == c))
        if tp + fp + fn == 0:
            continue  # a class absent from both: not scored
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def fine_tune(
    dataset: Path, output_dir: Path, config: FinetuneConfig, log: Callable[[str], None] = print
) -> list[EpochReport]:
    import torch
    from tqdm import tqdm

    rows = read_dataset(dataset, log)
    train, val = stratified_split(rows, config.val_fraction, config.seed)
    if not train or not val:  # none held out: every epoch scored nan, and the first was kept as "best" (a review)
        raise LabeledDataError(
            f"{dataset}: {len(rows)} texts split into {len(train)} to train on and {len(val)} to validate on: "
            "give each label at least two texts (one is held out), or change --val-fraction"
        )
    log(f"{len(rows)} texts: {len(train)} train, {len(val)} validation (stratified)")
    model, tokenizer = load_pretrained(config.base, then=TRAIN_NEXT)  # not the export's advice (a review)
    label2id = {str(k).lower(): int(v) for k, v in model.config.label2id.items()}
    torch.manual_seed(config.seed)
    # one generator for the run: each epoch draws its own order (a generator made again at each call gave every
    # epoch the first one's: a mutation audit), the same for the same seed
    shuffler = random.Random(config.seed)

    def batches(part: list[tuple[str, str]], shuffle: bool) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        order = list(range(len(part)))
        if shuffle:
            shuffler.shuffle(order)
        out = []
        for start in range(0, len(order), config.batch_size):
            chunk = [part[i] for i in order[start : start + config.batch_size]]
            enc = tokenizer(
                [t for t, _ in chunk],
                padding=True,
                truncation=True,
                max_length=config.max_tokens,
                return_tensors="pt",
            )
            out.append((dict(enc), torch.tensor([label2id[label] for _, label in chunk])))
        return out

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    reports: list[EpochReport] = []
    best: dict[str, torch.Tensor] | None = None
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses = []
        for inputs, labels in tqdm(
            batches(train, True), desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=None
        ):
            loss = model(**inputs, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        model.eval()
        truth, pred = [], []
        with torch.no_grad():
            for inputs, labels in batches(val, False):
                pred += model(**inputs).logits.argmax(-1).tolist()
                truth += labels.tolist()
        t, p = np.array(truth), np.array(pred)
        report = EpochReport(
            epoch, float(np.mean(losses)), float((t == p).mean()), macro_f1(t, p, model.config.num_labels)
        )
        log(
            f"epoch {epoch}: train loss {report.train_loss:.4f}, validation accuracy {report.accuracy:.3f}, "
            f"macro-F1 {report.macro_f1:.3f}"
        )
        if not reports or report.macro_f1 > max(r.macro_f1 for r in reports):
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        reports.append(report)
    assert best is not None
    model.load_state_dict(best)
    with staged(output_dir) as out:
        model.save_pretrained(out)
        for weights in Path(out).glob("*.safetensors"):  # written 0600: another user could not export it
            weights.chmod(0o644)
        tokenizer.save_pretrained(out)
        summary = {
            "config": asdict(config),
            "dataset": str(dataset),
            "train": len(train),
            "validation": len(val),
            "epochs": [asdict(r) for r in reports],
        }
        (out / METRICS).write_text(json.dumps(summary, indent=2) + "\n")
    log(f"saved the best epoch to {output_dir}: export it with `investiq export finbert --source {output_dir}`")
    return reports
