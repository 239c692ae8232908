"""openvino-bf16 (issue 18): PatchTST's backbone in BF16, its normalisation and de-normalisation in fp32; the
bound it is judged by (in the forecast's own terms), when auto picks it, and that it serves the tiny model."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from gateway.backends.embedded import load_patchtst, patchtst_dir
from investiq.core.errors import ArtifactError
from investiq.core.patchtst import INPUT, OUTPUTS, QUANTILE_LEVELS, PatchTSTMeta
from investiq.core.patchtst_runtime import (
    BF16_MAX_P_UP,
    BF16_MAX_QUANTILE_SD,
    FUSED,
    FUSED_ONNX_FILE,
    MAX_REL_DIFF,
    OPENVINO_BF16,
    PORTABLE,
    SPLIT_FILES,
    Chain,
    ForecastErrors,
    bf16_problem,
    choose_runtime,
    forecast_errors,
    openvino_installed,
    problem,
    sample_windows,
)
from investiq.core.triton_adapters import PatchTST

WITHIN = ForecastErrors(quantile_sd=0.003, p_up_abs=2e-4, volatility_rel=1e-6, p_up_flipped=0)
needs_openvino = pytest.mark.skipif(not openvino_installed(), reason="openvino is not installed")


def answer(windows: NDArray[np.float32], p_up: float = 0.7) -> list[NDArray[np.float32]]:
    """A forecast of 4 steps and 3 quantiles for `windows`: volatility 0.01, quantiles around the last close."""
    n, last = len(windows), windows[:, -1:, :]
    quantiles = last * np.array([0.99, 1.0, 1.01], dtype=np.float32)[None, None, :] * np.ones((n, 4, 1))
    return [
        quantiles[..., 1:2].astype(np.float32),
        quantiles.astype(np.float32),
        np.full((n, 4), p_up, dtype=np.float32),
        np.full((n, 1), 0.01, dtype=np.float32),
    ]


def test_errors_are_in_forecast_standard_deviations():
    windows = sample_windows(3, 16, seed=1)
    want = answer(windows)
    got = [a.copy() for a in want]
    sd = windows[:, -1, 0] * 0.01 * 2.0  # close * volatility * sqrt(4) at the last step
    got[1][:, 3, 0] += 0.5 * sd  # half a standard deviation at the horizon
    got[2][:] += 0.004
    errors = forecast_errors(windows, got, want)
    assert errors.quantile_sd == pytest.approx(0.5, rel=1e-3)
    assert errors.p_up_abs == pytest.approx(0.004, abs=1e-6)
    assert errors.volatility_rel == 0 and errors.p_up_flipped == 0


@pytest.mark.parametrize(
    ("errors", "words"),
    [
        (WITHIN, None),
        (replace(WITHIN, quantile_sd=BF16_MAX_QUANTILE_SD * 1.5), "forecast sd"),
        (replace(WITHIN, p_up_abs=BF16_MAX_P_UP * 1.5), "P(up) off"),
        (replace(WITHIN, p_up_flipped=1), "other side of 0.5"),
        (replace(WITHIN, volatility_rel=MAX_REL_DIFF * 10), "volatility"),
        (replace(WITHIN, quantile_sd=float("nan")), "nan forecast sd"),
    ],
)
def test_the_bf16_bound(errors: ForecastErrors, words: str | None):
    found = bf16_problem(errors)
    assert found is None if words is None else words in str(found)


def test_p_up_may_cross_one_half_only_where_the_reference_is_undecided():
    windows = sample_windows(2, 16, seed=2)
    want = answer(windows, p_up=0.5 + BF16_MAX_P_UP / 2)  # undecided: within the bound of 0.5
    got = answer(windows, p_up=0.5 - BF16_MAX_P_UP / 4)
    assert forecast_errors(windows, got, want).p_up_flipped == 0
    decided = answer(windows, p_up=0.52)
    assert forecast_errors(windows, answer(windows, p_up=0.49), decided).p_up_flipped == 2 * 4


def test_a_quantile_held_to_p_up_is_compared_only_where_p_up_is_decided_about_its_level():
    """The graph holds the quantiles to P(up): where the reference's 1 - P(up) is within the bound of a level,
    BF16's P(up) may fall on the other side of it and the quantile at that level sit at the last close in one
    answer only. That is not compared; the same jump elsewhere is."""
    windows = sample_windows(2, 16, seed=4)
    levels = np.array(QUANTILE_LEVELS, dtype=np.float32)
    last = windows[:, -1:, :]
    quantiles = last * np.exp(0.01 * (levels - 0.4))[None, None, :] * np.ones((2, 4, 1), dtype=np.float32)
    m = QUANTILE_LEVELS.index(0.5)

    def forecast(p_up: float, median_at_last: bool) -> list[NDArray[np.float32]]:
        q = quantiles.copy()
        if median_at_last:
            q[..., m] = last[..., 0]
        p = np.full((2, 4), p_up, dtype=np.float32)
        return [q[..., m : m + 1], q.astype(np.float32), p, np.full((2, 1), 0.01, dtype=np.float32)]

    near = forecast(0.5 - BF16_MAX_P_UP / 2, median_at_last=True)  # the reference, held: P(up) just below 0.5
    assert forecast_errors(windows, forecast(0.5 + BF16_MAX_P_UP / 4, False), near).quantile_sd < 1e-6
    far = forecast(0.45, median_at_last=True)
    assert forecast_errors(windows, forecast(0.45, False), far).quantile_sd > BF16_MAX_QUANTILE_SD
    # both P(up) 0.495, neither side of the median's level: compared (a band of 0.01 around 1 - P(up) skipped it)
    close = forecast(0.495, median_at_last=True)
    assert forecast_errors(windows, forecast(0.495, False), close).quantile_sd > BF16_MAX_QUANTILE_SD


def test_fp32_runtimes_keep_the_export_bound():
    windows = sample_windows(2, 16, seed=3)
    want = answer(windows)
    got = [a.copy() for a in want]
    got[1] = got[1] * np.float32(1 + 1e-3)  # 0.1 %: about 0.05 forecast sd, within no bound
    got[1][..., 1] = want[1][..., 1]
    assert problem(PORTABLE, windows, got, want) is not None
    assert problem(FUSED, windows, got, want) is not None
    assert "forecast sd" in str(problem(OPENVINO_BF16, windows, got, want))
    small = [want[0], want[1] * np.float32(1 + 1e-5), want[2] + np.float32(1e-3), want[3]]
    assert problem(FUSED, windows, small, want) is not None
    assert problem(OPENVINO_BF16, windows, small, want) is None


def export_dir(tmp_path: Path, *, fused: bool = True, split: bool = True) -> Path:
    names = ([FUSED_ONNX_FILE] if fused else []) + (list(SPLIT_FILES) if split else [])
    for name in names:
        (tmp_path / name).write_bytes(b"")
    return tmp_path


AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})


@pytest.mark.parametrize(
    ("sets", "split", "openvino", "runtime", "why"),
    [
        (AMX, True, True, OPENVINO_BF16, "BF16 instructions present"),
        (frozenset({"avx2", "avx512f", "avx512_bf16"}), True, True, OPENVINO_BF16, "BF16"),  # no AMX
        (AMX, True, False, FUSED, "AVX-512 present"),  # openvino not installed
        (AMX, False, True, FUSED, "AVX-512 present"),  # an export from before the split graphs
        (frozenset({"avx2", "avx512f"}), True, True, FUSED, "AVX-512 present"),  # no BF16 instructions
        (frozenset({"avx2"}), True, True, FUSED, "AVX2 or AVX-512 present"),  # no BF16 instructions
        (frozenset(), True, True, PORTABLE, "neither AVX2 nor AVX-512"),
    ],
)
def test_auto_picks_openvino_bf16_only_with_bf16_instructions_openvino_and_the_split_graphs(
    tmp_path: Path, sets: frozenset[str], split: bool, openvino: bool, runtime: str, why: str
):
    chosen, reason = choose_runtime("auto", sets, export_dir(tmp_path, split=split), openvino=openvino)
    assert chosen == runtime and why in reason


def test_openvino_bf16_can_be_named_on_any_cpu(tmp_path: Path):
    assert choose_runtime(OPENVINO_BF16, frozenset({"avx2"}), tmp_path, openvino=False) == (
        OPENVINO_BF16,
        "set in patchtst_runtime",
    )


def test_the_export_writes_the_split_graphs_checked_in_fp32(trained: tuple[Path, Path]):
    directory = patchtst_dir(trained[1])
    assert all((directory / name).is_file() for name in SPLIT_FILES)
    validation = PatchTSTMeta.load(directory).validation
    assert validation["max_rel_diff_split"] <= MAX_REL_DIFF
    if openvino_installed():
        assert validation["openvino_bf16_quantile_sd"] <= BF16_MAX_QUANTILE_SD
        assert validation["openvino_bf16_p_up_abs"] <= BF16_MAX_P_UP


@needs_openvino
def test_openvino_bf16_serves_the_tiny_model_within_the_bound(trained: tuple[Path, Path]):
    directory = patchtst_dir(trained[1])
    _, session = load_patchtst(directory, OPENVINO_BF16)
    _, portable = load_patchtst(directory, PORTABLE)
    assert session.runtime == OPENVINO_BF16 and "agrees with" in session.reason
    for batch in (1, 5):
        windows = sample_windows(batch, 64, seed=batch)
        got = session.run(list(OUTPUTS), {INPUT: windows})
        want = portable.run(list(OUTPUTS), {INPUT: windows})
        assert [g.shape for g in got] == [w.shape for w in want]
        assert problem(OPENVINO_BF16, windows, got, want) is None


def test_openvino_bf16_without_openvino_is_refused_when_named(
    trained: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` fails
    with pytest.raises(ArtifactError, match="needs openvino"):
        load_patchtst(patchtst_dir(trained[1]), OPENVINO_BF16)


@needs_openvino
def test_triton_cpu_flavour_makes_the_same_choice(trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]):
    directory = patchtst_dir(trained[1])
    config = json.dumps({"parameters": {"runtime": {"string_value": OPENVINO_BF16}}})
    model = PatchTST()
    model.initialize(
        {"model_repository": str(directory.parent), "model_version": directory.name, "model_config": config}
    )
    assert isinstance(model.session, Chain) and model.runtime == OPENVINO_BF16
    assert f"serving {OPENVINO_BF16} (set in patchtst_runtime)" in capsys.readouterr().out  # in Triton's log
