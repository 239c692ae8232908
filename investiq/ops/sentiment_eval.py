"""`investiq evaluate finbert`: the serving sentiment model against the finance lexicon and VADER.

    investiq evaluate finbert --csv labeled.csv --out DIR

Each text is judged once (a repeat counts once, a text labeled two ways is left out), scored as the gateway
scores it (the same text normalization, the same exported ONNX file and variant, the same lexicon): FinBERT
when it is exported in the model repository, the finance lexicon (the fallback the gateway serves without
FinBERT) and VADER alone (what it served before). For each: accuracy, macro-F1, log loss, a confusion matrix
and a calibration table (confidence of the predicted label, by bin, against how often it was right), overall
and per `split` when the CSV has that column. Writes DIR/report.json (every figure) and DIR/report.md (the
tables, and the most confident mistakes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.artifacts import META
from investiq.core.errors import DataError
from investiq.core.finbert import FINBERT, LABELS, PROBABILITIES, TEXT_INPUT, FinbertMeta, finbert_dir, label_of
from investiq.core.lexicon import NAME as LEXICON
from investiq.core.lexicon import FinanceLexicon, Vader
from investiq.core.report_json import REPORT_JSON, dumps
from investiq.core.settings import Settings
from investiq.core.texts import Labeled, read_labeled

Log = Callable[[str], None]
HEADLINES = Path(__file__).resolve().parents[1] / "data" / "labeled_headlines.csv"
VADER = "vader"
BATCH = 32  # texts per FinBERT run
BINS = 10  # calibration bins of width 0.1 (a three-class confidence is at least 1/3)
MISTAKES = 15  # the most confident mistakes listed per model in report.md


@dataclass(frozen=True)
class Scorer:
    model: str
    version: str
    role: str  # "serving", "fallback" or "baseline"
    score: Callable[[list[str]], NDArray[np.float32]]


def finbert_scorer(settings: Settings, serving: bool) -> tuple[Scorer | None, str]:
    """FinBERT on ONNX Runtime from the model repository, as the embedded backend serves it (variant per
    `quantize`), or None and why not."""
    from gateway.backends.embedded import EmbeddedBackend

    directory = finbert_dir(settings.model_repository)
    if not (directory / META).exists():
        return None, f"FinBERT is not exported in {settings.model_repository} (`investiq export finbert`)"
    backend = EmbeddedBackend(
        settings.model_repository,
        quantize=settings.quantize,
        max_tokens=settings.sentiment_max_tokens,
        finbert_runtime=settings.finbert_runtime,  # the runtime that serves on this CPU
    )
    meta: FinbertMeta | None = backend.finbert
    assert meta is not None
    columns = [meta.labels.index(label) for label in LABELS]

    def score(texts: list[str]) -> NDArray[np.float32]:
        async def run() -> list[NDArray[Any]]:
            try:
                batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
                outs = [await backend.infer(FINBERT, {TEXT_INPUT: np.array(b, dtype=object)}) for b in batches]
                return [np.asarray(o[PROBABILITIES]) for o in outs]
            finally:
                await backend.close()

        return np.asarray(np.concatenate(asyncio.run(run()))[:, columns], dtype=np.float32)

    version = f"{meta.version}-{backend.finbert_variant}"
    note = f"FinBERT {version} from {directory} (source {meta.source})"
    return Scorer(FINBERT, version, "serving" if serving else "exported, not serving", score), note


def labels_of(probabilities: NDArray[np.float32]) -> NDArray[np.int64]:
    """Each row's label as the gateway answers it (`label_of`: a tie of positive and negative is neutral)."""
    return np.array([label_of(row.tolist()) for row in probabilities], dtype=np.int64).reshape(-1)


def judge(probabilities: NDArray[np.float32], labels: NDArray[np.int64]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-label precision/recall/F1, log loss, confusion matrix (rows: truth,
    columns: predicted, both in LABELS order) and calibration (confidence bins against accuracy)."""
    predicted = labels_of(probabilities)
    confidence = probabilities[np.arange(len(predicted)), predicted].astype(np.float64)  # the label's, served
    correct = predicted == labels
    k = len(LABELS)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_label, f1s = {}, []
    for c, name in enumerate(LABELS):
        tp = int(confusion[c, c])
        fp, fn = int(confusion[:, c].sum()) - tp, int(confusion[c, :].sum()) - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        if f1 is not None:
            f1s.append(f1)
        per_label[name] = {
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": f1,
            "support": tp + fn,
        }
    edges = np.linspace(0, 1, BINS + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, BINS - 1)
    bins = [
        {
            "from": float(edges[b]),
            "to": float(edges[b + 1]),
            "n": int((which == b).sum()),
            "confidence": float(confidence[which == b].mean()),
            "accuracy": float(correct[which == b].mean()),
        }
        for b in range(BINS)
        if (which == b).any()
    ]
    p_true = probabilities[np.arange(len(labels)), labels].astype(np.float64)
    return {
        "n": len(labels),
        "accuracy": float(correct.mean()),
        "macro_f1": float(np.mean(f1s)),
        "log_loss": float(-np.log(np.clip(p_true, 1e-12, 1)).mean()),
        "mean_confidence": float(confidence.mean()),
        "expected_calibration_error": float(
            sum(r["n"] * abs(r["accuracy"] - r["confidence"]) for r in bins) / len(labels)
        ),
        "per_label": per_label,
        "confusion": {"labels": list(LABELS), "rows_truth_columns_predicted": confusion.tolist()},
        "calibration": bins,
    }


def evaluate_sentiment(
    settings: Settings, csv_path: Path | None, out: Path, log: Log = print, held_out: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Score the labeled texts with every model, judge them, write out/report.json and out/report.md. The
    mistakes of the `held_out` splits are counted, not written: a part kept to judge later changes stays
    unread (DataError when the file has no such split)."""
    path = csv_path or HEADLINES
    data = read_labeled(path)
    if unknown := sorted(held_out - set(data.splits)):
        known = ", ".join(sorted({s for s in data.splits if s}, key=_split_order)) or "none"
        raise DataError(f"--held-out names {', '.join(unknown)}, which {path} does not have (its splits: {known})")
    counts = _listed(_counts(data.labels))
    log(f"{path}: {len(data.texts)} texts ({counts}){_left_out(data.repeats, data.conflicts)}")
    if data.read_as():
        log(f"{path}: {data.read_as()}")
    finbert, note = finbert_scorer(settings, serving=settings.sentiment_model == FINBERT)
    lexicon = FinanceLexicon()
    vader = Vader()
    fallback_role = "fallback" if finbert is not None and finbert.role == "serving" else "serving"
    scorers = [
        *([finbert] if finbert is not None else []),
        Scorer(LEXICON, lexicon.version, fallback_role, lexicon.score),
        Scorer(VADER, vader.version, "baseline", vader.score),
    ]
    log(note)
    splits = sorted({s for s in data.splits if s}, key=_split_order)
    models = []
    for scorer in scorers:
        probabilities = scorer.score(data.texts)
        report: dict[str, Any] = {"model": scorer.model, "version": scorer.version, "role": scorer.role}
        report["all"] = judge(probabilities, data.labels)
        report["by_split"] = {}
        for split in splits:
            rows = np.array([s == split for s in data.splits])
            report["by_split"][split] = judge(probabilities[rows], data.labels[rows])
        mistakes = _mistakes(data, probabilities, scorer.model == LEXICON, lexicon)
        report["mistakes"] = [x for x in mistakes if x["split"] not in held_out]
        report["held_out_mistakes"] = len(mistakes) - len(report["mistakes"])
        models.append(report)
        log(
            f"{scorer.model:8s} accuracy {report['all']['accuracy']:.3f}  macro-F1 {report['all']['macro_f1']:.3f}"
        )
    result = {
        "csv": str(path),
        "encoding": data.encoding,
        "n": len(data.texts),
        "labels": _counts(data.labels),
        "left_out": {"repeats": data.repeats, "conflicting_texts": data.conflicts},
        "splits": {s: data.splits.count(s) for s in splits},
        "held_out": sorted(held_out, key=_split_order),
        "finbert": note,
        "serving": next(m["model"] for m in models if m["role"] == "serving"),
        "models": models,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(dumps(result) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render(result), encoding="utf-8")
    log(f"wrote {out / 'report.md'} and {out / 'report.json'}")
    return result


def _left_out(repeats: int = 0, conflicting_texts: int = 0) -> str:
    """'; left out: ...' for the rows read but not judged, or nothing."""
    parts = [f"{repeats} repeated rows (each text counts once)"] if repeats else []
    parts += [f"{conflicting_texts} texts labeled two or more ways"] if conflicting_texts else []
    return f"; left out: {', '.join(parts)}" if parts else ""


def _split_order(split: str) -> tuple[int, str, int, str]:
    """dev, train, validation, test, then the rest by name, a number at the end counted: fresh, fresh2, ...,
    fresh9, fresh10."""
    order = ["dev", "train", "validation", "test"]
    stem = split.rstrip("0123456789")
    number = split[len(stem) :]
    return (order.index(split) if split in order else len(order), stem, int(number or 0), split)


def _counts(labels: NDArray[np.int64]) -> dict[str, int]:
    return {name: int((labels == c).sum()) for c, name in enumerate(LABELS)}


def _listed(counts: dict[str, int]) -> str:
    """`{"positive": 3, ...}` as "3 positive, ..." (the log printed the dict)."""
    return ", ".join(f"{n} {name}" for name, n in counts.items())


def _mistakes(
    data: Labeled, probabilities: NDArray[np.float32], explain: bool, lexicon: FinanceLexicon
) -> list[dict[str, Any]]:
    predicted = labels_of(probabilities)
    wrong = np.flatnonzero(predicted != data.labels)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    rows = []
    for i in wrong:
        row: dict[str, Any] = {
            "text": data.texts[i],
            "label": LABELS[data.labels[i]],
            "predicted": LABELS[predicted[i]],
            "confidence": round(float(confidence[i]), 4),
            "split": data.splits[i],
        }
        if explain:
            row["evidence"] = lexicon.evidence(data.texts[i]).explain()
        rows.append(row)
    return rows


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def render(result: dict[str, Any]) -> str:
    """report.md: the summary table, then per model its confusion matrix, calibration and top mistakes."""
    models = result["models"]
    splits = list(result["splits"])
    lines = [
        "# Sentiment: serving model against the finance lexicon and VADER",
        "",
        f"{result['n']} labeled texts from `{result['csv']}` "
        f"({_listed(result['labels'])}"
        + (f"; splits: {', '.join(f'{s} {n}' for s, n in result['splits'].items())}" if splits else "")
        + f"){_left_out(**result.get('left_out', {}))}. {result['finbert']}. Serving: **{result['serving']}**.",
        "",
        "| model | role | part | n | accuracy % | macro-F1 % | log loss | mean confidence % | ECE % |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in models:
        for part, r in [("all", m["all"]), *m["by_split"].items()]:
            lines.append(
                f"| {m['model']} | {m['role']} | {part} | {r['n']} | {_percent(r['accuracy'])} | "
                f"{_percent(r['macro_f1'])} | {r['log_loss']:.3f} | {_percent(r['mean_confidence'])} | "
                f"{_percent(r['expected_calibration_error'])} |"
            )
    lines += [
        "",
        "Accuracy: share of texts whose most probable label is the labeled one. Macro-F1: the mean of the",
        "per-label F1 scores. Log loss: mean -ln p(labeled label). ECE: expected calibration error, the",
        "count-weighted gap between confidence and accuracy over the bins below.",
    ]
    for m in models:
        r = m["all"]
        lines += ["", f"## {m['model']} ({m['version']}, {m['role']})", "", "Confusion (rows: labeled):", ""]
        lines += ["| labeled \\ predicted | " + " | ".join(LABELS) + " | recall % |"]
        lines += ["| --- | " + " | ".join("---:" for _ in LABELS) + " | ---: |"]
        for c, name in enumerate(LABELS):
            row = r["confusion"]["rows_truth_columns_predicted"][c]
            lines.append(
                f"| {name} | " + " | ".join(map(str, row)) + f" | {_percent(r['per_label'][name]['recall'])} |"
            )
        lines += ["", "Calibration (confidence of the predicted label):", ""]
        lines += ["| confidence | n | mean confidence % | accuracy % |", "| --- | ---: | ---: | ---: |"]
        for b in r["calibration"]:
            lines.append(
                f"| {b['from']:.1f}-{b['to']:.1f} | {b['n']} | {_percent(b['confidence'])} | "
                f"{_percent(b['accuracy'])} |"
            )
        held = m.get("held_out_mistakes")
        if m["mistakes"] or held:  # all of them held out: said too (they went unmentioned)
            shown = m["mistakes"][:MISTAKES]
            lines += ["", f"Most confident mistakes ({len(shown)} of {len(m['mistakes'])}):", ""]
            if held:
                lines[-1:-1] = [f"(and {held} in the held-out parts {', '.join(result['held_out'])}, not listed)"]
            for x in shown:
                why = f" ({x['evidence']})" if "evidence" in x else ""
                split = f", {x['split']}" if x["split"] else ""
                lines.append(
                    f"- {x['text']!r}: {x['label']} -> {x['predicted']} "
                    f"at {_percent(x['confidence'])}%{split}{why}"
                )
    return "\n".join(lines) + "\n"
