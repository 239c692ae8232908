"""PNG figures of the benchmark results: throughput and latency by batch size, text length and client
concurrency (benchmarks/scaling.py), and the FinBERT paths side by side (benchmarks/finbert.py).

Each figure says in its caption which machine the figures come from: they mean nothing without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.results import describe
from investiq.core.plotting import pyplot

SWEEPS = {  # result key: (x column, x-axis label, title, file)
    "batch": ("batch_size", "batch size (texts per call)", "FinBERT INT8 in-process, by batch size", "batch"),
    "length": (
        "tokens",
        "text length (tokens, [CLS] and [SEP] included)",
        "FinBERT INT8 in-process, by text length",
        "length",
    ),
    "concurrency": (
        "clients",
        "concurrent clients (one headline per request)",
        "FinBERT through the gateway, by concurrency",
        "concurrency",
    ),
}


def _save(fig: Any, path: Path, caption: str) -> Path:
    fig.text(0.01, 0.01, caption, fontsize=8, color="dimgray", ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # leave the bottom strip to the caption
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def sweep_plot(result: dict[str, Any], key: str, path: Path) -> Path:
    """Two panels sharing the x axis (log 2): texts/s on top, p50 and p99 latency (ms) below."""
    column, xlabel, title, _ = SWEEPS[key]
    rows = result[key]
    x = [r[column] for r in rows]
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    top.plot(x, [r["texts_per_s"] for r in rows], "o-", color="tab:blue")
    for xi, r in zip(x, rows, strict=True):
        top.annotate(
            f"{r['texts_per_s']:.0f}",
            (xi, r["texts_per_s"]),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    top.set(title=title, ylabel="throughput (texts/s)")
    top.set_ylim(0, max(r["texts_per_s"] for r in rows) * 1.15)  # room for the labels
    bottom.plot(x, [r["p50_ms"] for r in rows], "s-", color="tab:green", label="p50")
    bottom.plot(x, [r["p99_ms"] for r in rows], "^--", color="tab:red", label="p99")
    bottom.set(xlabel=xlabel, ylabel="latency per call (ms)", ylim=(0, None))
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(x, [str(v) for v in x])
    bottom.legend()
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    caption = f"{describe(result['machine'])}. Model: {result['model']['source']}, "
    if key == "concurrency":
        backend = result["gateway"]["settings"].get("INVESTIQ_BACKEND", "embedded ONNX Runtime INT8")
        caption += f"gateway backend: {backend}; client: {result['gateway']['client']}, on the same machine. "
    elif key == "length":
        caption += f"ONNX Runtime INT8 in this process, {rows[0]['batch_size']} texts per call. "
    else:
        caption += "ONNX Runtime INT8 in this process, batches of the committed headlines. "
    return _save(fig, path, caption + f"About {result['seconds_per_point']} s per point.")


def paths_plot(finbert: dict[str, Any], path: Path) -> Path:
    """The FinBERT paths of benchmarks/finbert.py: batched texts/s and single-text p50/p99, as bars."""
    rows = finbert["rows"]
    names = [r["path"] for r in rows]
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.6 * len(rows) + 2.2), sharey=True)
    y = list(range(len(rows)))
    bars = left.barh(y, [r["texts_per_s"] for r in rows], color="tab:blue")
    left.bar_label(bars, fmt="%.0f", padding=3, fontsize=8)
    left.set(yticks=y, yticklabels=names, xlabel=f"throughput (texts/s, batches of {finbert['batch_size']})")
    left.set_title("Batched throughput")
    left.invert_yaxis()  # first path on top, in the order of the table
    height = 0.38
    p50 = right.barh(
        [i - height / 2 for i in y], [r["p50_ms"] for r in rows], height, label="p50", color="tab:green"
    )
    p99 = right.barh(
        [i + height / 2 for i in y], [r["p99_ms"] for r in rows], height, label="p99", color="tab:red"
    )
    for b in (p50, p99):
        right.bar_label(b, fmt="%.1f", padding=3, fontsize=8)
    right.set(xlabel="latency of one text (ms)")
    right.set_title("Single-text latency")
    right.legend(loc="best")
    for ax in (left, right):
        ax.margins(x=0.15)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"FinBERT paths ({finbert['model']})")
    caption = (
        f"{describe(finbert['machine'])}. Committed headlines, {finbert['mean_tokens']:.1f} tokens on average; "
        "tokenization included; gateway = `investiq serve`, INT8, cache off, over HTTP on the same machine."
    )
    return _save(fig, path, caption)


def run(finbert: dict[str, Any] | None, scaling: dict[str, Any] | None, out: Path) -> dict[str, str]:
    """Every figure the given results allow, as PNGs in `out`; returns {figure: path}."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    if finbert is not None:
        written["paths"] = str(paths_plot(finbert, out / "finbert_paths.png"))
    for key, (*_, name) in SWEEPS.items():
        if scaling is not None and scaling.get(key):
            written[key] = str(sweep_plot(scaling, key, out / f"scaling_{name}.png"))
    for name, path in written.items():
        print(f"{name}: {path}")
    return written


def load(path: Path) -> dict[str, Any] | None:
    """A results JSON file, or None when it has not been recorded yet."""
    return json.loads(path.read_text()) if path.is_file() else None
