"""Training PatchTST on market bars (the loop, the untrained baseline, the artifact).

    investiq train patchtst --symbols SPY QQQ AAPL --days 60 --interval 15m --epochs 50 \\
        --batch-size 64 --learning-rate 1e-4 --output-dir models/patchtst [--source yfinance|csv|sample]

The split and the windows: training/windows.py; the network: training/forecaster.py; what is fitted around it
on the validation part: training/calibrate.py.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors.torch import save_file

from investiq.core.artifacts import METRICS, weights_version
from investiq.core.atomic import staged
from investiq.core.patchtst import PatchTSTMeta, TrainConfig
from training.calibrate import calibrate
from training.forecaster import WEIGHTS, Forecaster, pinball, standardised_targets
from training.windows import Dataset, make_dataset


class _Loss(torch.nn.Module):
    """The pinball loss as a module, so that DistributedDataParallel can wrap the whole step."""

    def __init__(self, forecaster: Forecaster) -> None:
        super().__init__()
        self.forecaster = forecaster

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u, target = standardised_targets(self.forecaster, x, y)
        return pinball(u, target, self.forecaster.levels)


def train(
    series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]],
    config: TrainConfig,
    output_dir: Path,
    log: Callable[[str], None] = print,
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Train with early stopping on the validation loss, calibrate on the validation part, write the
    artifact atomically; return metrics. With `budget_s`, no epoch starts after that many seconds
    (the best epoch so far is kept; with none finished, the untrained head: the random walk).

    Under torchrun (WORLD_SIZE > 1; `investiq train patchtst` starts it when several GPUs are
    visible) each process trains on its share of every epoch's batches through
    DistributedDataParallel (batch_size is per GPU) and rank 0 alone calibrates and writes.
    """
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    rank, device, world = _device()
    if rank != 0:
        log = _silent
    data = make_dataset(series, config)
    log(f"{len(data.train[0])} training and {len(data.val[0])} validation windows on {device} (x{world})")
    net = Forecaster(config).to(device)
    model: torch.nn.Module = _Loss(net)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    x_train, y_train = (torch.from_numpy(a) for a in data.train)
    x_val, y_val = (torch.from_numpy(a) for a in data.val)
    generator = torch.Generator().manual_seed(config.seed)
    curve: list[dict[str, float]] = []
    best, best_state, stale = math.inf, None, 0
    started = time.monotonic()
    for epoch in range(1, config.epochs + 1):
        if _agree(budget_s is not None and time.monotonic() - started > budget_s, world):
            log(f"time budget of {budget_s:g} s spent: stopping before epoch {epoch}")
            break
        model.train()
        order = torch.randperm(len(x_train), generator=generator)  # the same on every rank (same seed)
        order = order[: len(order) // world * world][rank::world]  # equal shares: DDP needs equal steps
        losses = []
        batches = range(0, len(order), config.batch_size)
        bar = tqdm(
            batches,
            desc=f"epoch {epoch}/{config.epochs}",
            unit="batch",
            leave=False,
            disable=None if rank == 0 else True,
        )
        for start in bar:
            i = order[start : start + config.batch_size]
            loss = model(x_train[i].to(device), y_train[i].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        val_loss = evaluate_loss(net, x_val, y_val, config.batch_size, device, progress=rank == 0)
        curve.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss})
        log(f"epoch {epoch}: train loss {curve[-1]['train_loss']:.4f}, validation loss {val_loss:.4f}")
        if val_loss < best:
            best, stale = val_loss, 0
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        if _agree(stale >= config.patience, world):
            log(f"early stop: no better validation loss for {config.patience} epochs")
            break
    metrics: dict[str, Any] = {
        "config": asdict(config),
        "curve": curve,
        "best_val_loss": best,
        "epochs_run": len(curve),
        "train_windows": len(x_train),
        "val_windows": len(x_val),
    }
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
        if rank != 0:
            return metrics
    if best_state is not None:
        net.load_state_dict(best_state)
    return save(net.cpu().eval(), data, config, output_dir, metrics, log)


def baseline(
    series: dict[str, tuple[NDArray[np.float64], NDArray[Any]]],
    config: TrainConfig,
    output_dir: Path,
    reason: str,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The untrained forecaster, calibrated and saved like a trained one: the random walk with the
    window's volatility, conformal intervals and the training up-rate (what `investiq up` serves when
    training fails or runs out of time). Its artifact says why."""
    data = make_dataset(series, config)
    log(f"writing the random-walk baseline instead of a trained PatchTST: {reason}")
    metrics: dict[str, Any] = {"config": asdict(config), "curve": [], "epochs_run": 0, "baseline_reason": reason}
    return save(Forecaster(config).eval(), data, config, output_dir, metrics, log)


def save(
    forecaster: Forecaster,
    data: Dataset,
    config: TrainConfig,
    output_dir: Path,
    metrics: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Calibrate on the validation part, then write the artifact atomically; return the metrics."""
    calibration = calibrate(forecaster, data, config)
    if "baseline_reason" in metrics:
        calibration["rule"] = f"untrained baseline ({metrics['baseline_reason']}); {calibration['rule']}"
    log(calibration["rule"])
    curve = metrics["curve"]
    meta = PatchTSTMeta.of(
        config,
        weights_version(forecaster),
        data.trained_until,
        validated_until=data.validated_until,
        train_stats=data.stats,
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        quantile_levels=list(forecaster.quantile_levels),
        calibration=calibration,
    )
    metrics = metrics | {"version": meta.version, "calibration": calibration}
    with staged(output_dir) as out:
        save_file(forecaster.state_dict(), str(out / WEIGHTS))
        (out / WEIGHTS).chmod(0o644)  # safetensors writes 0600: another user (a container's) could not export it
        meta.save(out)
        (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
        plot_curve(curve, out / "training_curve.png")
    # --model-dir: the model is judged wherever it was written (the backtest's, a --output-dir), not the default's
    evaluate = shlex.join(["investiq", "evaluate", "patchtst", "--model-dir", str(output_dir)])
    log(f"saved {output_dir} (version {meta.version}); evaluate with `{evaluate}`")
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


def evaluate_loss(
    model: Forecaster,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    progress: bool = False,
) -> float:
    """The mean pinball loss over (x, y), in eval mode; with a progress bar where `progress` (validation windows
    are never thinned: on 100 symbols they took as long as the epoch, silent, an audit)."""
    from tqdm import tqdm

    model.eval()
    total = 0.0
    starts = range(0, len(x), batch_size)
    with torch.no_grad():
        for start in tqdm(
            starts, desc="validation loss", unit="batch", leave=False, disable=None if progress else True
        ):
            xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
            u, target = standardised_targets(model, xb, yb)
            total += float(pinball(u, target, model.levels)) * len(xb)
    return total / len(x)


def plot_curve(curve: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [c["epoch"] for c in curve]
    ax.plot(epochs, [c["train_loss"] for c in curve], marker="o", label="train")
    ax.plot(epochs, [c["val_loss"] for c in curve], marker="o", label="validation")
    ax.set(
        xlabel="epoch",
        ylabel="pinball loss (volatility units)",
        title="PatchTST training",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
