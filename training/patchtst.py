"""Training PatchTST on market bars (windows, chronological split, the model, the loop, artifacts).

    investiq train patchtst --symbols SPY QQQ AAPL --days 60 --interval 15m --epochs 50 \\
        --batch-size 64 --learning-rate 1e-4 --output-dir models/patchtst [--source yfinance|csv|sample]

Windows: an origin o uses closes[o-C+1 .. o] (C = context) to forecast closes[o+1 .. o+H]. Each
symbol's bars are split in time: train | gap | validation | gap | test, every gap at least H bars,
so that no validation or test target lies inside any training window (tests check it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from investiq.core.artifacts import weights_version
from investiq.core.atomic import staged
from investiq.core.patchtst import PatchTSTMeta, TrainConfig, Transform

CHECKPOINT = "model"  # Hugging Face directory inside the output directory


@dataclass(frozen=True)
class Split:
    """Origins (bar indices) of each part for one series of n bars."""

    train: NDArray[np.int64]
    val: NDArray[np.int64]
    test: NDArray[np.int64]


def split_origins(n: int, context: int, horizon: int, val_fraction: float, test_fraction: float) -> Split:
    """train origins o: o + H < t_val - H  (targets end a full horizon before validation starts);
    validation: t_val <= o, o + H < t_test - H; test: t_test <= o <= n - 1 - H."""
    t_test = int(n * (1 - test_fraction))
    t_val = int(n * (1 - test_fraction - val_fraction))
    first = context - 1
    train = np.arange(first, max(first, t_val - 2 * horizon))
    val = np.arange(max(t_val, first), max(t_val, t_test - 2 * horizon))
    test = np.arange(max(t_test, first), n - horizon)
    if len(train) == 0 or len(val) == 0 or len(test) == 0:
        need = context + 6 * horizon
        raise ValueError(
            f"{n} bars are too few for context {context}, horizon {horizon} and the split "
            f"({len(train)} train, {len(val)} validation, {len(test)} test windows): fetch more history "
            f"(at least ~{int(need / (1 - val_fraction - test_fraction))} bars) or lower --context-length"
        )
    return Split(train, val, test)


def windows(
    closes: NDArray[np.float64], origins: NDArray[np.int64], context: int, horizon: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(inputs [n, context, 1], targets [n, horizon, 1]) in prices, for the given origins."""
    idx_in = origins[:, None] + np.arange(-context + 1, 1)[None, :]
    idx_out = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    return closes[idx_in][..., None].astype(np.float32), closes[idx_out][..., None].astype(np.float32)


def transform(prices: NDArray[np.float32], kind: Transform) -> NDArray[np.float32]:
    """The model's input space (what its MSE loss is measured in)."""
    return np.log(prices) if kind == "log_price" else prices


def train_stats(closes: NDArray[np.float64], train_origins: NDArray[np.int64], horizon: int) -> dict[str, float]:
    """Statistics of one-step log returns over the bars the training windows cover, and nothing later."""
    last = int(train_origins.max()) + horizon
    r = np.diff(np.log(closes[: last + 1]))
    return {"log_return_mean": float(r.mean()), "log_return_std": float(r.std()), "bars": float(last + 1)}


class Forecaster(torch.nn.Module):
    """The function that is exported: prices [batch, C, 1] -> forecast prices [batch, H, 1].

    The transform is applied and undone inside, around PatchTST, whose own per-window
    standardisation (scaling="std", as RevIN in the paper) makes any price level look alike.
    """

    def __init__(self, model: Any, transform: Transform) -> None:
        super().__init__()
        self.model = model
        self.log = transform == "log_price"

    def forward(self, past_values: torch.Tensor) -> torch.Tensor:
        x = torch.log(past_values) if self.log else past_values
        y: torch.Tensor = self.model(past_values=x).prediction_outputs
        return torch.exp(y) if self.log else y


def build_model(config: TrainConfig) -> Any:
    from transformers import PatchTSTConfig, PatchTSTForPrediction

    return PatchTSTForPrediction(
        PatchTSTConfig(
            num_input_channels=1,
            context_length=config.context_length,
            prediction_length=config.prediction_length,
            patch_length=config.patch_length,
            patch_stride=config.patch_stride,
            d_model=config.d_model,
            num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads,
            ffn_dim=config.ffn_dim,
            attention_dropout=config.dropout,
            ff_dropout=config.dropout,
            head_dropout=config.dropout,
            pooling_type=None,  # the paper's head: flatten all patch embeddings, then one linear layer
            scaling="std",
            loss="mse",
        )
    )


@dataclass
class Dataset:
    """Pooled windows of every symbol, plus what the artifact records about them."""

    train: tuple[NDArray[np.float32], NDArray[np.float32]]
    val: tuple[NDArray[np.float32], NDArray[np.float32]]
    stats: dict[str, float] = field(default_factory=dict)
    trained_until: str = ""


def make_dataset(series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]], config: TrainConfig) -> Dataset:
    """series: symbol -> (closes [n], timestamps [n]). Windows pooled over symbols (one univariate model)."""
    parts: dict[str, list[tuple[NDArray[np.float32], NDArray[np.float32]]]] = {"train": [], "val": []}
    stats: dict[str, float] = {}
    last_seen = []
    c, h = config.context_length, config.prediction_length
    for symbol, (closes, stamps) in series.items():
        split = split_origins(len(closes), c, h, config.val_fraction, config.test_fraction)
        parts["train"].append(windows(closes, split.train[:: config.window_stride], c, h))
        parts["val"].append(windows(closes, split.val, c, h))
        stats.update({f"{symbol}.{k}": v for k, v in train_stats(closes, split.train, h).items()})
        last_seen.append(_iso(stamps[int(split.train.max()) + h]))
    stack = {k: (np.concatenate([x for x, _ in v]), np.concatenate([y for _, y in v])) for k, v in parts.items()}
    return Dataset(stack["train"], stack["val"], stats, max(last_seen))


def _iso(stamp: Any) -> str:
    if isinstance(stamp, np.datetime64):
        return str(np.datetime_as_string(stamp, unit="s", timezone="UTC"))
    return str(stamp)


def train(
    series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]],
    config: TrainConfig,
    output_dir: Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train with early stopping on validation loss; write the artifact atomically; return metrics.

    Under torchrun (WORLD_SIZE > 1; `investiq train patchtst` starts it when several GPUs are
    visible) each process trains on its share of every epoch's batches through
    DistributedDataParallel (batch_size is per GPU) and rank 0 alone writes the artifact.
    """
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    rank, device, world = _device()
    if rank != 0:
        log = _silent
    data = make_dataset(series, config)
    log(f"{len(data.train[0])} training and {len(data.val[0])} validation windows on {device} (x{world})")
    net = build_model(config).to(device)
    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    x_train, y_train = (torch.from_numpy(transform(a, config.transform)) for a in data.train)
    x_val, y_val = (torch.from_numpy(transform(a, config.transform)) for a in data.val)
    generator = torch.Generator().manual_seed(config.seed)
    curve: list[dict[str, float]] = []
    best, best_state, stale = math.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)  # the same on every rank (same seed)
        order = order[: len(order) // world * world][rank::world]  # equal shares: DDP needs equal steps
        losses = []
        batches = range(0, len(order), config.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False, disable=rank != 0)
        for start in bar:
            i = order[start : start + config.batch_size]
            loss = model(past_values=x_train[i].to(device), future_values=y_train[i].to(device)).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        val_loss = evaluate_loss(net, x_val, y_val, config.batch_size, device)
        curve.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss})
        log(f"epoch {epoch}: train loss {curve[-1]['train_loss']:.3e}, validation loss {val_loss:.3e}")
        if val_loss < best:
            best, stale = val_loss, 0
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        if _agree(stale >= config.patience, world):
            log(f"early stop: no better validation loss for {config.patience} epochs")
            break
    assert best_state is not None
    net.load_state_dict(best_state)
    model = net.cpu().eval()
    meta = PatchTSTMeta(
        version=weights_version(model),
        context_length=config.context_length,
        prediction_length=config.prediction_length,
        interval=config.interval,
        transform=config.transform,
        symbols=list(config.symbols),
        source=config.source,
        trained_until=data.trained_until,
        train_stats=data.stats,
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        train_config=asdict(config),
    )
    metrics = {
        "config": asdict(config),
        "curve": curve,
        "best_val_loss": best,
        "epochs_run": len(curve),
        "train_windows": len(x_train),
        "val_windows": len(x_val),
        "version": meta.version,
    }
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
        if rank != 0:
            return metrics
    with staged(output_dir) as out:
        model.save_pretrained(out / CHECKPOINT)
        meta.save(out)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        plot_curve(curve, out / "training_curve.png")
    log(f"saved {output_dir} (version {meta.version}); evaluate with `investiq evaluate patchtst`")
    return metrics


def _device() -> tuple[int, torch.device, int]:
    """(rank, device, world size): torchrun's process group when WORLD_SIZE > 1, else one process."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world == 1:
        return 0, torch.device("cuda" if cuda else "cpu"), 1
    import torch.distributed as dist

    dist.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    return dist.get_rank(), device, world


def _silent(_: str) -> None:
    """The log of ranks other than 0."""


def _agree(stop: bool, world: int) -> bool:
    """Rank 0's early-stopping decision, for every rank (they must leave the loop together)."""
    if world == 1:
        return stop
    import torch.distributed as dist

    flag = [stop]
    dist.broadcast_object_list(flag, src=0)
    return bool(flag[0])


def evaluate_loss(model: Any, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
            total += float(model(past_values=xb, future_values=yb).loss) * len(xb)
    return total / len(x)


def load_forecaster(directory: Path) -> tuple[Forecaster, PatchTSTMeta]:
    from transformers import PatchTSTForPrediction

    meta = PatchTSTMeta.load(directory)
    model = PatchTSTForPrediction.from_pretrained(directory / CHECKPOINT)
    return Forecaster(model, meta.transform).eval(), meta


def plot_curve(curve: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [c["epoch"] for c in curve]
    ax.plot(epochs, [c["train_loss"] for c in curve], marker="o", label="train")
    ax.plot(epochs, [c["val_loss"] for c in curve], marker="o", label="validation")
    ax.set(xlabel="epoch", ylabel="MSE (transformed prices)", title="PatchTST training", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
