"""Kill tests of a mutation audit of the gateway's wiring from settings to objects (gateway/wiring.py), its heap
settling (gateway/heap.py), the CPU's instruction sets (investiq/core/cpu.py), how ONNX Runtime sessions are opened
(investiq/core/ort_sessions.py), strict report JSON (investiq/core/report_json.py) and the process's one OpenVINO
Core (investiq/core/openvino_core.py): each fails with the mutant its docstring names applied, and passes on the
code as it is. The wiring's constructors (backend, scorer, services) are replaced by recorders of what they were
given; ONNX Runtime sessions are opened on a one-node graph made with the `onnx` package, or by a stand-in session
where a GPU provider must have started; OpenVINO is a stand-in module counting its Cores. Nothing trains or
exports."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import platform
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import onnx
import pytest
from onnx import TensorProto, helper

import gateway.wiring as wiring
from gateway.heap import PauseObserver
from gateway.metrics import Metrics
from gateway.services.bayesian import BayesConfig
from gateway.services.scorers import LexiconScorer
from gateway.services.sentiment import SentimentLimits
from gateway.services.skill import SkillConfig
from gateway.wiring import StartupError, align_triton, bayes_config, build_backend, build_price, build_sentiment
from investiq.core import cpu, openvino_core, ort_sessions
from investiq.core.bayes.allocation import AllocationRules
from investiq.core.bayes.posterior import Prior
from investiq.core.errors import ArtifactError, BackendUnavailableError, SettingsError
from investiq.core.finbert import FINBERT, FINBERT_MODEL, FINBERT_TOKENIZER, LABELS, FinbertMeta
from investiq.core.ort_sessions import CPU, disabled_optimizers, inference_session, loaded_session, session_options
from investiq.core.patchtst import PATCHTST
from investiq.core.report_json import dumps
from investiq.core.settings import Settings
from investiq.core.versions import version_dir
from tests.core.test_cpu import AMX
from tests.gateway.test_triton_followups import price_service, repository_with_version_1

CUDA = "CUDAExecutionProvider"


class Made:
    """What a recorded constructor returned: the arguments it was given."""

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.args = args
        self.kwargs = kwargs


class Recorder:
    """A stand-in constructor: records each call's arguments and returns them as a Made."""

    def __init__(self) -> None:
        self.calls: list[Made] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Made:
        made = Made(args, kwargs)
        self.calls.append(made)
        return made


def recorded(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(target, name, recorder)
    return recorder


# ---- wiring.py: the backend


def test_the_embedded_backend_gets_each_of_its_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Mutants: quantize negated, the token limit or the rows of a pass dropped (the backend's defaults served)."""
    recorded(monkeypatch, wiring, "EmbeddedBackend")
    providers = recorded(monkeypatch, wiring, "session_providers")
    settings = Settings(
        model_repository=tmp_path / "repo",
        models_dir=tmp_path / "models",
        quantize=False,
        sentiment_max_tokens=77,
        sentiment_batch_size=5,
        embedded_providers="cpu",
    )
    made = build_backend(settings)
    assert isinstance(made, Made)
    assert made.args == (tmp_path / "repo",)
    assert made.kwargs == {
        "quantize": False,
        "max_tokens": 77,
        "finbert_runtime": settings.finbert_runtime,
        "patchtst_runtime": settings.patchtst_runtime,
        "max_pass_rows": 5,
        "providers": providers.calls[0],
    }
    assert providers.calls[0].args == ("cpu", tmp_path / "models")


def test_a_settings_error_of_the_embedded_backend_is_a_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: only ArtifactError turned into a StartupError (a provider asked of an ONNX Runtime without it was a
    traceback at start-up)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise SettingsError("embedded_providers: cuda, but this onnxruntime has no CUDAExecutionProvider")

    monkeypatch.setattr(wiring, "EmbeddedBackend", refuse)
    with pytest.raises(StartupError, match="no CUDAExecutionProvider"):
        build_backend(Settings())


def test_only_triton_has_a_slot_timeout_and_several_batches_in_flight() -> None:
    """Mutants: the embedded backend's queue cut short after Triton's timeout, or given Triton's calls in
    flight."""
    triton = Settings(backend="triton", triton_timeout_s=7.0, triton_max_inflight=3)
    embedded = Settings(backend="embedded", triton_timeout_s=7.0, triton_max_inflight=3)
    assert (wiring.slot_timeout_s(triton), wiring.max_inflight(triton)) == (7.0, 3)
    assert (wiring.slot_timeout_s(embedded), wiring.max_inflight(embedded)) == (None, 1)


# ---- wiring.py: sentiment


class Meta:
    """FinBERT's artifact record as the scorer reads it."""

    def __init__(self) -> None:
        self.labels = list(LABELS)
        self.version = "v1"


def sentiment_with(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, backend: Any, exported: bool = True
) -> tuple[Made, Recorder]:
    """build_sentiment's SentimentService call, and the FinbertScorer recorder, on a FinBERT export whose record
    reads as Meta (`exported`) or is missing."""

    def load(directory: Path) -> Meta:
        if not exported:
            raise ArtifactError(f"no artifact at {directory}")
        return Meta()

    monkeypatch.setattr(FinbertMeta, "load", staticmethod(load))
    scorer = recorded(monkeypatch, wiring, "FinbertScorer")
    service = recorded(monkeypatch, wiring, "SentimentService")
    writer: Any = None
    build_sentiment(settings, backend, writer, Metrics())
    return service.calls[0], scorer


def test_the_finbert_scorer_and_the_service_get_each_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutants: the version without its variant (or int8 and fp32 swapped), the wait in tenths of seconds, the
    cache size dropped, the texts' limit taken for the characters' limit, Triton's calls in flight for all."""
    settings = Settings(
        backend="triton",
        triton_max_inflight=3,
        triton_timeout_s=7.0,
        sentiment_batch_size=6,
        sentiment_max_wait_ms=5,
        sentiment_cache_size=17,
        sentiment_max_texts=9,
        sentiment_max_chars=33,
    )
    service, scorer = sentiment_with(monkeypatch, settings, SimpleNamespace())
    (made,) = scorer.calls
    assert made.args[1:] == (list(LABELS), "v1-int8")
    assert made.kwargs["max_batch"] == 6
    assert made.kwargs["max_wait_s"] == pytest.approx(0.005)
    assert (made.kwargs["max_inflight"], made.kwargs["slot_timeout_s"], made.kwargs["cut"]) == (3, 7.0, True)
    assert service.args[0] is made
    assert service.kwargs == {
        "limits": SentimentLimits(max_texts=9, max_chars=33),
        "cache_size": 17,
        "degraded_reason": None,
    }
    _, scorer = sentiment_with(monkeypatch, Settings(quantize=False), SimpleNamespace())
    assert scorer.calls[0].args[2] == "v1-fp32"


def test_the_embedded_backends_variant_and_passes_decide_the_scorers_version_and_cuts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mutant: bursts cut by the scorer where the embedded backend plans its own passes by token count."""
    backend = SimpleNamespace(finbert=Meta(), finbert_variant="int8-fused", plans_finbert_passes=True)
    _, scorer = sentiment_with(monkeypatch, Settings(), backend, exported=False)
    (made,) = scorer.calls
    assert made.args == (backend, list(LABELS), "v1-int8-fused")
    assert made.kwargs["cut"] is False
    assert (made.kwargs["max_inflight"], made.kwargs["slot_timeout_s"]) == (1, None)


def test_the_lexicon_when_chosen_is_not_degraded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: sentiment_model=lexicon ignored, FinBERT served although the lexicon was chosen."""
    service, scorer = sentiment_with(monkeypatch, Settings(sentiment_model="lexicon"), SimpleNamespace())
    assert scorer.calls == []
    assert isinstance(service.args[0], LexiconScorer)
    assert service.kwargs["degraded_reason"] is None


def test_finbert_missing_or_exported_after_the_backend_loaded_is_the_lexicon_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mutants: the reason dropped (the lexicon's answers not reported as degraded), or an export that landed
    after the embedded backend loaded served under labels the backend never read."""
    service, scorer = sentiment_with(monkeypatch, Settings(), SimpleNamespace(), exported=False)
    assert scorer.calls == [] and isinstance(service.args[0], LexiconScorer)
    assert "FinBERT is not available (no artifact at" in service.kwargs["degraded_reason"]
    service, scorer = sentiment_with(monkeypatch, Settings(), SimpleNamespace(finbert=None))
    assert scorer.calls == [] and isinstance(service.args[0], LexiconScorer)
    assert "was exported while the gateway started: restart it" in service.kwargs["degraded_reason"]


# ---- wiring.py: price


def price_with(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> tuple[Made, Made]:
    """build_price's PriceService and SkillService calls."""
    service = recorded(monkeypatch, wiring, "PriceService")
    skill = recorded(monkeypatch, wiring, "SkillService")
    writer: Any = SimpleNamespace(saw=lambda exc: None)
    build_price(settings.model_copy(update={"data_dir": tmp_path / "data"}), SimpleNamespace(), writer, Metrics())
    assert skill.calls[0].kwargs["saw"] is writer.saw
    return service.calls[0], skill.calls[0]


def test_the_price_service_and_its_skill_get_each_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Mutants: the model's age limit dropped (stale models served without a word), Triton's calls in flight
    set for the embedded backend, the journal writer not told of a failed skill refresh."""
    repo = repository_with_version_1(tmp_path)
    settings = Settings(
        model_repository=repo,
        db_path=tmp_path / "portfolio.db",
        price_batch_size=7,
        max_model_age_days=12.5,
        triton_max_inflight=3,
        skill_windows_days=[5, 9],
        skill_min_resolved=4,
        skill_refresh_s=11.0,
        db_busy_timeout_ms=1234,
    )
    service, skill = price_with(monkeypatch, settings, tmp_path)
    assert service.args[1] is not None and service.args[1].context_length == 8
    kwargs = {k: v for k, v in service.kwargs.items() if k != "skill"}
    assert kwargs == {
        "max_batch": 7,
        "repository_version": 1,
        "max_age_days": 12.5,
        "max_inflight": None,
        "slot_timeout_s": None,
    }
    assert skill.args[0] == tmp_path / "portfolio.db"
    assert skill.args[2] == SkillConfig((5, 9), 4, 11.0, 1234)
    triton, _ = price_with(
        monkeypatch, settings.model_copy(update={"backend": "triton", "triton_timeout_s": 6.0}), tmp_path
    )
    assert (triton.kwargs["max_inflight"], triton.kwargs["slot_timeout_s"]) == (3, 6.0)


def test_a_version_whose_artifact_does_not_load_pins_no_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Mutant: the version number kept for forecasts although its artifact did not load."""
    repo = tmp_path / "repo"
    version_dir(repo, PATCHTST, 3).mkdir(parents=True)
    (version_dir(repo, PATCHTST, 3) / "artifact.json").write_text("{not json")
    service, _ = price_with(monkeypatch, Settings(model_repository=repo), tmp_path)
    assert service.args[1] is None
    assert service.kwargs["repository_version"] is None


def test_without_any_version_the_warning_names_version_1s_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mutant: `number or 0`, the warning pointing at patchtst/0, where nothing is ever installed."""
    with caplog.at_level(logging.WARNING, logger="gateway.wiring"):
        price_with(monkeypatch, Settings(model_repository=tmp_path / "repo"), tmp_path)
    assert str(version_dir(tmp_path / "repo", PATCHTST, 1)) in caplog.text


def test_bayes_config_takes_each_setting_in_its_place() -> None:
    """Mutants: alpha and beta, kappa and the mean, the shape and the scale, the floor and the cap swapped."""
    settings = Settings(
        bayes_prior_alpha=1.5,
        bayes_prior_beta=2.5,
        bayes_pnl_prior_mean=3.5,
        bayes_pnl_prior_kappa=4.5,
        bayes_pnl_prior_shape=5.5,
        bayes_pnl_prior_scale=6.5,
        bayes_half_life_days=7.5,
        bayes_min_trades=8.5,
        bayes_weight_floor=0.05,
        bayes_weight_cap=0.5,
        bayes_thompson_draws=1234,
        bayes_seed=9,
        bayes_max_sync_days=10,
    )
    assert bayes_config(settings) == BayesConfig(
        prior=Prior(alpha=1.5, beta=2.5, mu=3.5, kappa=4.5, a=5.5, b=6.5),
        half_life_days=7.5,
        rules=AllocationRules(min_trades=8.5, floor=0.05, cap=0.5, draws=1234),
        seed=9,
        max_sync_days=10,
    )


# ---- wiring.py: Triton loads what this gateway reads


class Triton:
    """A Triton backend: records its reloads and the versions asked about; `failing` models fail to load;
    `serving` is the PatchTST version it serves instead (None: the one asked about), or an exception."""

    name = "triton"

    def __init__(self, serving: int | Exception | None = None, failing: tuple[str, ...] = ()) -> None:
        self.serving = serving
        self.failing = failing
        self.reloaded: list[str] = []
        self.asked: list[tuple[str, int]] = []

    async def reload(self, model: str) -> None:
        self.reloaded.append(model)
        if model in self.failing:
            raise BackendUnavailableError(f"Triton could not load {model}")

    async def serving_version(self, model: str, version: int) -> int | None:
        self.asked.append((model, version))
        if isinstance(self.serving, Exception):
            raise self.serving
        return self.serving


def align(backend: Any, tmp_path: Path, finbert: bool = True, version: int | None = 1, meta: bool = True) -> None:
    sentiment = SimpleNamespace(scorer=SimpleNamespace(model=FINBERT if finbert else "lexicon"))
    price = price_service(tmp_path, backend)
    price.repository_version = version
    if not meta:
        price.meta = None
    asyncio.run(align_triton(backend, sentiment, price))  # type: ignore[arg-type]


def test_triton_reloads_finbert_its_tokenizer_and_patchtst_the_embedded_backend_nothing(tmp_path: Path) -> None:
    """Mutants: the tokenizer step not reloaded (a new vocabulary paired with the old weights), FinBERT reloaded
    for the lexicon or PatchTST without an artifact read, the embedded backend asked to reload."""
    backend = Triton()
    align(backend, tmp_path / "a")
    assert backend.reloaded == [FINBERT_MODEL, FINBERT_TOKENIZER, PATCHTST]
    assert backend.asked == [(PATCHTST, 1)]  # asked once, about PatchTST only
    backend = Triton()
    align(backend, tmp_path / "b", finbert=False, meta=False)
    assert backend.reloaded == []
    embedded = Triton()
    embedded.name = "embedded"
    align(embedded, tmp_path / "c")
    assert embedded.reloaded == []


def test_only_patchtst_is_compared_with_the_version_triton_serves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mutant: every model compared, FinBERT and its tokenizer reported as serving PatchTST's other version."""
    with caplog.at_level(logging.INFO, logger="gateway.wiring"):
        align(Triton(serving=2), tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "version 2 of patchtst, not version 1" in warnings[0]
    assert f"Triton serves {FINBERT_MODEL} from the files this gateway reads" in caplog.text


def test_a_failed_load_is_not_reported_as_served(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Mutant: no `continue` after a failed load, which was then logged as served from this gateway's files."""
    backend = Triton(failing=(PATCHTST,))
    with caplog.at_level(logging.INFO, logger="gateway.wiring"):
        align(backend, tmp_path, finbert=False)
    assert "could not have Triton load patchtst" in caplog.text
    assert "Triton serves patchtst" not in caplog.text
    assert backend.asked == []


def test_no_version_read_or_no_answer_is_no_other_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mutants: Triton asked about version None, or its error not caught (the start-up's alignment died)."""
    backend = Triton(serving=2)
    with caplog.at_level(logging.INFO, logger="gateway.wiring"):
        align(backend, tmp_path / "a", finbert=False, version=None)
    assert backend.asked == []
    assert "Triton serves patchtst from the files this gateway reads" in caplog.text
    caplog.clear()
    failing = Triton(serving=BackendUnavailableError("Triton is down"))
    with caplog.at_level(logging.INFO, logger="gateway.wiring"):
        align(failing, tmp_path / "b", finbert=False)
    assert "could not ask Triton which version of patchtst it serves: Triton is down" in caplog.text


# ---- heap.py


def test_a_second_stop_without_its_start_is_not_observed() -> None:
    """Mutant: the start time kept after a collection's end (a stop with no start of its own observed)."""
    metrics = Metrics()
    observer = PauseObserver(metrics.gc_pause)
    observer("start", {"generation": 0})
    observer("stop", {"generation": 0})
    observer("stop", {"generation": 0})
    assert metrics.registry.get_sample_value("investiq_gc_pause_seconds_count", {"generation": "0"}) == 1


# ---- cpu.py


def test_the_fields_of_a_whole_cpuinfo_are_read_by_their_exact_name_from_the_first_block() -> None:
    """Mutants: a field found by a part of its name ("model" for "model name", "vmx flags" for "flags"), or
    the last block read instead of the first."""
    text = (
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 143\nmodel name\t: Intel Xeon\n"
        "vmx flags\t: vnmi avx512_vnni\nflags\t\t: fpu avx2\n\n"
        "processor\t: 1\nmodel\t\t: 143\nmodel name\t: Other\nflags\t\t: fpu avx2 amx_int8 amx_bf16\n"
    )
    assert cpu.model_name(text) == "Intel Xeon"
    assert cpu.instruction_sets(text) == frozenset({"avx2"})


def test_amx_needs_both_its_int8_and_bf16_tiles() -> None:
    """Mutants: AMX claimed with INT8 tiles alone, or with either."""
    assert not cpu.has_amx(frozenset({"avx2", "amx_int8", "amx_tile"}))
    assert not cpu.has_amx(frozenset({"avx2", "amx_bf16"}))
    assert cpu.has_amx(frozenset({"amx_int8", "amx_bf16"}))


def test_without_a_model_name_the_processor_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: the processor skipped for the machine's architecture."""
    monkeypatch.setattr(platform, "processor", lambda: "Proc 9")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert cpu.model_name("flags : avx2\n") == "Proc 9"
    assert cpu.describe("flags : avx2\n") == "Proc 9 (avx2)"


def test_usable_cores_are_the_affinitys_else_the_count_else_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Mutants: os.cpu_count() over the affinity (a container given 2 of a host's 64 cores ran 64 threads), or 0
    cores where the count is unknown. (No control group's quota here: tmp_path stands for an empty one.)"""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert cpu.usable_cores(tmp_path) == 2
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert cpu.usable_cores(tmp_path) == 64
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert cpu.usable_cores(tmp_path) == 1


@pytest.mark.parametrize(
    ("files", "cores"),
    [
        ({"cpu.max": "200000 100000\n"}, 2),  # cgroup v2: `docker run --cpus 2` on a host of 8
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs' worth: two threads
        ({"cpu.max": "max 100000\n"}, 8),  # no limit
        ({"cpu.max": "1600000 100000\n"}, 8),  # a quota above the cores: the cores
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1, half a CPU
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 8),  # v1: unlimited
        ({"cpu.max": "nonsense\n"}, 8),
        ({}, 8),  # none mounted
    ],
)
def test_usable_cores_keep_within_a_containers_cpu_quota(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, files: dict[str, str], cores: int
) -> None:
    """A container's CPU limit (docker --cpus, a Kubernetes limit) leaves its affinity listing every core of the
    host: threads for each were throttled by turns (a mutation audit's note)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu.usable_cores(tmp_path) == cores


@pytest.mark.parametrize(
    ("own", "files", "cores"),
    [
        # a systemd slice's CPUQuota=200% over a service whose own group is unlimited
        (
            "0::/work.slice/agent.service",
            {"work.slice/agent.service/cpu.max": "max 100000", "work.slice/cpu.max": "200000 100000"},
            2,
        ),
        # the tightest limit on the way up wins, the own group's here
        (
            "0::/work.slice/agent.service",
            {"work.slice/agent.service/cpu.max": "100000 100000", "work.slice/cpu.max": "400000 100000"},
            1,
        ),
        ("0::/work.slice/agent.service", {"cpu.max": "300000 100000"}, 3),  # only the root (a container's) says
        # cgroup v1 (a hybrid host): the cpu controller's line, a pod's quota above the container's -1
        (
            "4:cpu,cpuacct:/pods/pod1/box\n1:name=systemd:/pods/pod1/box\n0::/",
            {
                "cpu/pods/pod1/box/cpu.cfs_quota_us": "-1",
                "cpu/pods/pod1/box/cpu.cfs_period_us": "100000",
                "cpu/pods/pod1/cpu.cfs_quota_us": "150000",
                "cpu/pods/pod1/cpu.cfs_period_us": "100000",
            },
            2,
        ),
    ],
)
def test_a_cpu_quota_set_on_a_group_above_the_process_binds_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, own: str, files: dict[str, str], cores: int
) -> None:
    """cpu.py:cpu_quota: only the process's own group (or the root) read: a quota on a slice or a pod above the
    process's group went unseen and ONNX Runtime ran a thread per host core, throttled by turns (noticed in
    review; the first and the last case fail before)."""
    groups = tmp_path / "self-cgroup"
    groups.write_text(own + "\n")
    monkeypatch.setattr(cpu, "OWN_GROUPS", groups)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    root = tmp_path / "fs"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    assert cpu.usable_cores(root) == cores


def test_an_unreadable_proc_cpuinfo_is_no_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: an OSError reading /proc/cpuinfo (not Linux) raised instead of read as no sets known."""

    class Unreadable:
        def __init__(self, path: str) -> None:
            self.path = path

        def read_text(self) -> str:
            raise PermissionError(13, "Permission denied", self.path)

    monkeypatch.setattr(cpu, "Path", Unreadable)
    assert cpu._machine_cpuinfo.__wrapped__() == ""


def test_an_empty_cpuinfo_given_is_not_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: an empty text read as "none given", so the machine's own sets were reported (deterministic here:
    the machine's cpuinfo is an AMX one)."""
    monkeypatch.setattr(cpu, "_machine_cpuinfo", lambda: AMX)
    assert cpu.instruction_sets("") == frozenset()
    assert cpu.has_amx(cpu.instruction_sets())


# ---- ort_sessions.py


def identity_graph(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_session_options_default_to_one_thread_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: one intra-op thread by default (every session on one core). Under a control group's CPU quota,
    ONNX Runtime's own count would be every core of the host: the quota's cores, as usable_cores says."""
    monkeypatch.setattr(ort_sessions, "cpu_quota", lambda: None)
    assert session_options().intra_op_num_threads == 0
    assert session_options(3).intra_op_num_threads == 3
    monkeypatch.setattr(ort_sessions, "cpu_quota", lambda: 1.5)
    monkeypatch.setattr(ort_sessions, "usable_cores", lambda: 2)
    assert session_options().intra_op_num_threads == 2
    assert session_options(3).intra_op_num_threads == 3  # as asked


def test_no_providers_leave_out_no_rewrite() -> None:
    """Mutant: the first provider read from an empty list (IndexError)."""
    assert disabled_optimizers([]) == []


class GpuSession:
    """onnxruntime.InferenceSession where the GPU provider started: records how it was opened."""

    opened: ClassVar[list[tuple[str, Any, list[Any]]]] = []

    def __init__(self, path: str, options: Any, providers: list[Any]) -> None:
        GpuSession.opened.append((path, options, providers))
        self.providers = [ort_sessions.provider_name(p) for p in providers]

    def get_providers(self) -> list[str]:
        return self.providers


def test_a_gpu_session_that_started_is_kept_and_cpu_rewrites_are_joined_by_commas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Mutants: a GPU session reopened on the CPU because the CPU is its last provider (CUDA never served), or the
    rewrites left out joined by another separator than the one ONNX Runtime splits on."""
    import onnxruntime as ort

    GpuSession.opened = []
    monkeypatch.setattr(ort, "InferenceSession", GpuSession)
    session = inference_session(tmp_path / "model.onnx", [(CUDA, {"device_id": "0"}), CPU])
    assert session.get_providers() == [CUDA, CPU]
    assert len(GpuSession.opened) == 1
    monkeypatch.setattr(ort_sessions, "CPU_DISABLED_OPTIMIZERS", ("SkipLayerNormFusion", "GeluFusion"))
    options = session_options()
    inference_session(tmp_path / "model.onnx", [CPU], options)
    assert options.get_session_config_entry("optimization.disable_specified_optimizers") == (
        "SkipLayerNormFusion,GeluFusion"
    )


def test_a_graph_that_does_not_load_is_named_with_its_external_weights(tmp_path: Path) -> None:
    """Mutants: the weights file left out of the message, or looked for as model.data instead of
    model.onnx.data (where the exporter writes them)."""
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a graph")
    with pytest.raises(ArtifactError, match="export the model again") as plain:
        loaded_session(path)
    assert "weights in" not in str(plain.value)
    (tmp_path / "model.data").write_bytes(b"")
    with pytest.raises(ArtifactError) as stem:
        loaded_session(path)
    assert "weights in" not in str(stem.value)
    (tmp_path / "model.onnx.data").write_bytes(b"")
    with pytest.raises(ArtifactError) as split:
        loaded_session(path)
    assert f"{path} (weights in {tmp_path / 'model.onnx.data'})" in str(split.value)


def test_a_missing_graph_is_named_missing(tmp_path: Path) -> None:
    """Mutant: no check that the file exists (ONNX Runtime's own words, "cannot load", for a file never
    exported)."""
    with pytest.raises(ArtifactError, match=r"missing ONNX file .*model\.onnx: export the model again"):
        loaded_session(tmp_path / "model.onnx")
    assert loaded_session(identity_graph(tmp_path / "model.onnx")).get_providers() == [CPU]


# ---- report_json.py


def test_reports_are_indented_by_default_and_as_asked() -> None:
    """Mutants: no indentation by default (a report.json of one line), or the indent asked for ignored."""
    assert dumps({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'
    assert dumps({"a": [1]}, indent=None) == '{"a": [1]}'


def test_what_default_turns_into_nan_is_refused_not_written() -> None:
    """Mutant: allow_nan (a bare NaN from `default`'s answer written into a report strict parsers refuse)."""

    class Odd:
        pass

    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps({"o": Odd()}, default=lambda value: math.nan)
    assert json.loads(dumps({"o": Odd()}, default=lambda value: 1.5)) == {"o": 1.5}


# ---- openvino_core.py


class FakeCore:
    """openvino.Core: counts the Cores made, records what each compiled."""

    made = 0

    def __init__(self) -> None:
        FakeCore.made += 1
        self.compiled: list[tuple[Any, ...]] = []

    def compile_model(self, *args: Any) -> tuple[Any, ...]:
        self.compiled.append(args)
        return args


def test_one_core_compiles_every_graph_on_the_cpu_with_its_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutants: a Core made per graph (the crash the module exists to prevent), the graph compiled for AUTO or
    without its config."""
    FakeCore.made = 0
    monkeypatch.setitem(sys.modules, "openvino", SimpleNamespace(Core=FakeCore))
    monkeypatch.setattr(openvino_core, "_core", None)
    first = openvino_core.compile_model(Path("/m/a.xml"), {"INFERENCE_NUM_THREADS": 2})
    second = openvino_core.compile_model(Path("/m/b.xml"), {})
    assert FakeCore.made == 1
    assert first == ("/m/a.xml", "CPU", {"INFERENCE_NUM_THREADS": 2})
    assert second == ("/m/b.xml", "CPU", {})
