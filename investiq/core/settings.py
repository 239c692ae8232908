"""The one settings object: `config.yaml` < environment (`INVESTIQ_*`) < CLI flags (merged by
investiq/core/settings_load.py).

Every field's default and description live here and only here; the committed `config.yaml`
is rendered from this class (`investiq config defaults`) and a test keeps the two equal.
Nothing imports a global instance: the CLI loads settings once and passes values down.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from investiq.core.bayes.allocation import AllocationRules
from investiq.core.bayes.posterior import Prior
from investiq.core.finbert import MAX_TOKENS
from investiq.core.finbert_runtime import RuntimeName
from investiq.core.journal.connection import BUSY_TIMEOUT_MS
from investiq.core.journal.trades import MAX_ABS_PNL
from investiq.core.market import ALL_DAYS, INTERVAL_SECONDS, Source
from investiq.core.names import symbol_problem, ticker
from investiq.core.patchtst_runtime import RuntimeName as PatchTSTRuntime

ENV_PREFIX = "INVESTIQ_"
API_KEY_HEADER = "X-API-Key"  # the header that carries the key named by api_key_env (gateway/security.py)
# The most days any window of days may span: more overflowed the date arithmetic (a prune of 1e8 days, a review)
CENTURY_DAYS = ALL_DAYS
# Settings that name a file or directory: `~` is expanded, an empty one refused; a relative one is relative to the
# current directory, wherever it was written. Reading those of a config file from its directory (tried 2026-12-05)
# moved an installation's journal whose config file lives elsewhere (--config /etc/investiq/config.yaml): a new,
# empty journal beside it, the agent writing the old one (a review); the start-up line names the absolute path.
PATHS = ("db_path", "model_repository", "models_dir", "price_csv", "data_dir", "logs_dir", "triton_env")
DIRECTORIES = ("model_repository", "models_dir", "data_dir", "logs_dir", "triton_env")
# A target of one of gRPC's name resolvers (dns:///triton-pods:8001, ipv4:10.0.0.1:8001,10.0.0.2:8001, xds:///x,
# unix:/path): a scheme, then anything but a port alone (localhost:8001 is a host and a port), not a web URL.
GRPC_TARGET = re.compile(r"(?!https?:)[a-z][a-z0-9+.-]*:(?!\d*$)")
_PRIOR, _RULES = Prior(), AllocationRules()  # the Bayesian defaults: the core's (investiq/core/bayes)


def _numeric(annotation: Any) -> bool:
    """int or float, or one Annotated with its bounds."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation in (int, float)


class Settings(BaseModel):
    """Typed settings of the whole stack. Units are in the field names or descriptions.

    A plain pydantic model: the three sources are merged by `load_settings`, in the open, so the
    precedence and the origin of a bad value (file, variable or flag) can be reported exactly.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)

    # -- server --------------------------------------------------------------------------------
    host: str = Field(
        "127.0.0.1",
        description="Interface the gateway binds to: loopback by default, 0.0.0.0 for every interface.",
    )
    port: int = Field(8080, ge=1, le=65535, description="Gateway TCP port.")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted; larger bodies get 413."
    )
    api_key_env: str = Field(
        "ML_API_KEY",
        min_length=1,
        description="Name of the environment variable holding the API key (the key never goes in a file).",
    )
    # Off by default: the gateway binds loopback and serves one trusted agent, whose bursts (a sync after a
    # reconnect, a batch per bar) and whose handling of 429 nobody here controls; turn it on when exposed.
    rate_limit_per_minute: float = Field(
        0.0,
        ge=0,
        description="Requests per minute per API key (per client address without a valid key); 0: no limit.",
    )
    rate_limit_burst: int = Field(
        60, ge=1, description="Requests a client may send at once before rate_limit_per_minute paces it."
    )
    allowed_hosts: list[str] = Field(
        [],
        description="Host names, besides localhost, 127.0.0.1 and ::1, that a gateway serving without an API key "
        "on a loopback address answers (a local proxy's): a request naming another host is refused (421), so "
        "that a web page open on this machine cannot reach it through DNS rebinding. Not read with an API key "
        "or on another address.",
    )
    # Read deadlines of the HTTP server (gateway/server.py): a client that does not finish its request in time
    # gets 408 and its connection is closed, so slow or stalled clients cannot hold connections and descriptors.
    http_header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's line and headers, from its first byte (or from "
        "connecting); then 408 and the connection is closed. Idle keep-alive connections close after 5 s.",
    )
    http_body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's whole body once its headers are in; then 408 "
        "and the connection is closed.",
    )

    # -- journal -------------------------------------------------------------------------------
    db_path: Path = Field(Path("portfolio.db"), description="SQLite journal shared with the Rust agent.")
    db_busy_timeout_ms: int = Field(
        BUSY_TIMEOUT_MS, ge=0, le=600_000, description="How long a connection waits for a lock (ms)."
    )
    journal_log_delay_ms: float = Field(
        50.0,
        ge=0,
        le=10_000,
        description="Prediction logs are committed together at most this long after the first is queued (ms), "
        "one commit per interval instead of one per request; a crash loses at most this much more of them. "
        "Bayesian updates are committed before they are acknowledged, whatever this is.",
    )

    # -- inference -----------------------------------------------------------------------------
    backend: Literal["embedded", "triton"] = Field(
        "embedded", description="embedded = ONNX Runtime in-process; triton = a Triton server over gRPC."
    )
    triton_url: str = Field(
        "127.0.0.1:8001",
        min_length=1,
        description="Triton gRPC address (host:port), or any gRPC target: a name with several addresses "
        "(dns:///triton-pods:8001, a headless Service) or ipv4:host1:8001,host2:8001 spreads calls over them all.",
    )
    triton_http_port: int = Field(8000, ge=1, le=65535, description="HTTP port of `investiq triton start`.")
    triton_metrics_port: int = Field(8002, ge=1, le=65535, description="Metrics port of `investiq triton start`.")
    triton_env: Path | None = Field(
        None,
        description="Virtual environment whose tritonserver (nvidia-pytriton: the `triton` extra, numpy<2) "
        "`investiq triton start` runs, its python-backend models importing that environment's packages; null: "
        "the checkout's .venv-triton (made by scripts/test.sh) when it exists, else this environment.",
    )
    triton_timeout_s: float = Field(5.0, gt=0, le=300, description="Per-request timeout towards Triton (s).")
    triton_max_inflight: int = Field(
        4,
        ge=1,
        le=256,
        description="Calls in flight to Triton at once, per model (sentiment batches, price forecasts): at least "
        "the total count of the model's instances (the gpu configs: one per GPU), so that no instance idles "
        "and Triton's dynamic batcher can merge them. The embedded backend runs one at a time.",
    )
    model_repository: Path = Field(Path("model_repository"), description="Triton model repository.")
    models_dir: Path = Field(Path("models"), description="Trained artifacts (checkpoints, reports).")
    finbert_model: str = Field(
        "ProsusAI/finbert", min_length=1, description="FinBERT weights: Hugging Face model id or local path."
    )
    quantize: bool = Field(True, description="Serve the dynamic INT8 ONNX variant on CPU.")
    finbert_runtime: Literal["auto", RuntimeName] = Field(
        "auto",
        description="How the embedded backend runs FinBERT on CPU. auto: onnxruntime-int8-fused on CPUs with "
        "AVX-512 VNNI, AMX or not, where it measured faster than int8 (benchmarks/results/finbert_probes.md), "
        "onnxruntime-int8 elsewhere (AVX2 only), the path before any other was measured (benchmarks/results/"
        "finbert_runtimes.md); onnxruntime-fp32 with quantize: false; onnxruntime-int8-static gives a headline "
        "the same answer whatever shares its batch (dynamic INT8 moves it by up to ~6e-3), at ~0.75x the "
        "throughput; the OpenVINO ones need the `openvino` extra. A runtime that fails its check at start-up "
        "falls back to onnxruntime-int8, checked too (FinBERT does not serve when it fails). The choice is in "
        "/health and model_version.",
    )
    embedded_providers: Literal["auto", "cpu", "cuda", "tensorrt"] = Field(
        "auto",
        description="ONNX Runtime execution providers of the embedded backend: auto = CUDA when onnxruntime-gpu "
        "finds a GPU, else CPU; tensorrt = TensorRT (engines cached under models_dir/tensorrt), then CUDA, CPU.",
    )
    sentiment_model: Literal["finbert", "lexicon"] = Field(
        "finbert",
        description="finbert, or lexicon (the finance lexicon) on purpose; finbert falls back to it when "
        "not exported.",
    )
    sentiment_batch_size: int = Field(
        32,
        ge=1,
        le=64,
        description="Most texts in one forward pass (<= 64, the Triton configs' max_batch_size). The embedded "
        "backend on a CPU cuts a burst into passes of texts of like length, at most this many each.",
    )
    sentiment_max_wait_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="How long a micro-batch waits to fill (ms). 0: it leaves as soon as the model is free, "
        "so a lone request never waits and batches still grow with load (requests queue while one runs).",
    )
    sentiment_max_tokens: int = Field(
        MAX_TOKENS,
        ge=8,
        le=512,
        description=(
            "Texts are truncated to this many tokens (embedded backend). Triton's tokenizer step truncates at its "
            "own max_tokens parameter (model_repository/finbert_tokenizer/config.pbtxt): change both."
        ),
    )
    sentiment_max_texts: int = Field(256, ge=1, le=10_000, description="Most texts in one request.")
    sentiment_max_chars: int = Field(2000, ge=1, description="Most characters in one text.")
    sentiment_cache_size: int = Field(10_000, ge=0, description="Cached predictions (LRU); 0 disables.")
    price_batch_size: int = Field(
        1000,
        ge=1,
        le=1024,
        description="Most forecasts in one batch_predict (one pass; <= Triton's 1024). Windows sent with their "
        "closes meet max_body_bytes first: about 200 windows of 512 closes per MiB, 64 with their bar_times.",
    )
    patchtst_runtime: Literal["auto", PatchTSTRuntime] = Field(
        "auto",
        description="How the embedded backend runs PatchTST on CPU (Triton's cpu flavour makes the same auto "
        "choice, or takes the `runtime` parameter of model_repository/patchtst/config.pbtxt): onnxruntime = the "
        "portable graph, onnxruntime-fused = ONNX Runtime's transformer fusions of it (both fp32, within 1e-4 of "
        "PyTorch), openvino-bf16 = the backbone in BF16 on OpenVINO, the normalisation and prices in fp32 "
        "(quantiles within 0.02 forecast sd of PyTorch, P(up) within 0.01; needs the openvino extra); auto: "
        "openvino-bf16 where the CPU has BF16 instructions (AMX, AVX512_BF16), openvino is installed and the "
        "export has its graphs, else fused where the CPU has AVX2 or AVX-512, else portable. A runtime that "
        "disagrees with the portable graph at start-up is not served. The choice is in /health.",
    )
    price_source: Source = Field(
        "yfinance", description="Bars `investiq up` trains a first PatchTST on (offline: falls back to sample)."
    )
    price_symbols: list[str] = Field(
        ["SPY", "QQQ", "AAPL"], min_length=1, description="Symbols of that first model (comma-separated in env)."
    )
    price_interval: str = Field("15m", min_length=1, description="Bar interval of that first model.")
    price_days: int = Field(60, ge=1, description="Days of history for that first model (yfinance 15m: <= 60).")
    price_csv: Path | None = Field(None, description="CSV of bars when price_source is csv.")
    data_dir: Path = Field(Path("data"), description="Market data cache (parquet bars per symbol and interval).")
    logs_dir: Path = Field(Path("logs"), description="Logs and PID files of `investiq start` and Triton.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="Gateway logs: json (one object per line, with request id), text, or auto: text where they go "
        "to a terminal, json elsewhere (a file, a service's journal, a container's log).",
    )
    quick_train_budget_s: float = Field(
        600.0,
        gt=0,
        description="Most seconds `investiq up` spends training its first PatchTST (then it keeps the best epoch; "
        "with none, or if training fails, it serves the random-walk baseline).",
    )
    price_resolve_every_s: float = Field(
        300.0, ge=0, description="How often the gateway scores past forecasts against the market (0: never)."
    )
    journal_retention_days: int = Field(
        365,
        ge=0,
        le=CENTURY_DAYS,
        description="Prediction rows older than this are deleted (sentiment, and price forecasts never resolved; "
        "resolved ones are the live-skill record and stay) daily by the gateway and by `investiq db prune`.",
    )
    skill_windows_days: list[Annotated[int, Field(ge=1, le=CENTURY_DAYS)]] = Field(
        [30, 90],
        min_length=1,
        description="Windows of live skill (days of forecasts), besides all of a version's; the first is the one "
        "/health and each forecast's `skill` block use (comma-separated in env).",
    )
    skill_min_resolved: int = Field(
        30,
        ge=1,
        description="/price/health stays degraded until the serving version has this many resolved forecasts "
        "(and they fall in 10 periods of one horizon).",
    )
    skill_refresh_s: float = Field(
        30.0, gt=0, description="How often the gateway counts newly resolved forecasts into live skill."
    )

    # -- model lifecycle (`investiq retrain`, `investiq models`) --------------------------------
    keep_versions: int = Field(
        3, ge=1, le=100, description="Versions of each model kept for rollback (and as many retired ones)."
    )
    keep_retrain_runs: int = Field(
        8, ge=1, description="Newest retrain run folders kept in models/retrain (reports, candidates, backups)."
    )
    max_model_age_days: float = Field(
        14.0, ge=0, description="/health warns when the serving PatchTST is older than this (0: never)."
    )
    retrain_epochs: int = Field(10, ge=1, description="Most epochs of a retrain (early stopping still applies).")
    promote_metric: Literal["mae"] = Field(
        "mae",
        description=(
            "What the promotion gate compares on the fresh hold-out: the median path's MAE as a share of the "
            "last close (the only choice: the random walk's median has no direction to score a hit rate); "
            "P(up)'s Brier score and the quantiles' pinball loss are held to the serving model's too."
        ),
    )
    promote_tolerance: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "Margin on the ratios candidate/serving (the median's MAE, P(up)'s Brier score, the pinball loss): a "
            "candidate is refused as worse than the serving model only when a ratio's 95% interval lies wholly "
            "above 1 + this (the random walk's bar has none)."
        ),
    )

    # -- Bayesian strategy weights -------------------------------------------------------------
    bayes_prior_alpha: float = Field(_PRIOR.alpha, gt=0, description="Beta prior on win probability: alpha.")
    bayes_prior_beta: float = Field(_PRIOR.beta, gt=0, description="Beta prior on win probability: beta.")
    bayes_pnl_prior_mean: float = Field(
        _PRIOR.mu,
        ge=-MAX_ABS_PNL,  # as a trade's P&L: 1e200 overflowed in the posterior, a 500 on every /bayesian route
        le=MAX_ABS_PNL,
        description="Normal-Inverse-Gamma prior: mean P&L per trade.",
    )
    bayes_pnl_prior_kappa: float = Field(
        _PRIOR.kappa, gt=0, description="NIG prior: pseudo-trades behind the prior mean."
    )
    bayes_pnl_prior_shape: float = Field(_PRIOR.a, gt=0, description="NIG prior: inverse-gamma shape a0.")
    bayes_pnl_prior_scale: float = Field(
        _PRIOR.b, gt=0, description="NIG prior: inverse-gamma scale b0 (P&L units squared)."
    )
    bayes_half_life_days: float = Field(
        30.0,
        ge=0,
        description="Evidence older than this counts half; 0 disables forgetting. Decays toward the prior.",
    )
    bayes_min_trades: float = Field(
        _RULES.min_trades, ge=0, description="Effective trades a strategy needs before it leaves its prior share."
    )
    bayes_weight_floor: float = Field(
        _RULES.floor, ge=0, lt=1, description="Smallest weight of a proven strategy."
    )
    bayes_weight_cap: float = Field(_RULES.cap, gt=0, le=1, description="Largest weight of any proven strategy.")
    bayes_thompson_draws: int = Field(
        _RULES.draws, ge=100, le=1_000_000, description="Monte Carlo draws for probability-of-being-best."
    )
    bayes_seed: int = Field(0, ge=0, description="Seed of the Thompson allocation (same state, same weights).")
    bayes_max_sync_days: int = Field(
        3650, ge=1, le=CENTURY_DAYS, description="Largest `days` accepted by sync-from-database."
    )

    # Read from the variable named by api_key_env, never from config.yaml.
    api_key: SecretStr | None = Field(None, exclude=True, description="Set through the api_key_env variable.")

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_no_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """`port: true` in config.yaml was port 1: a YAML true or false is not taken for a number."""
        annotation = cls.model_fields[info.field_name or ""].annotation
        if isinstance(value, bool) and _numeric(annotation):
            raise ValueError(f"{str(value).lower()} is a yes/no, and this setting is a number")
        item = get_args(annotation)[0] if get_origin(annotation) is list else None
        if isinstance(value, list) and _numeric(item) and any(isinstance(v, bool) for v in value):
            raise ValueError("a yes/no (true or false) among numbers")  # skill_windows_days: [true] was [1]
        return value

    @field_validator("price_symbols", "skill_windows_days", "allowed_hosts", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> Any:
        """A list from a variable: comma- or space-separated, or JSON (["SPY", "QQQ"] gave the symbols '["SPY"'
        and '"QQQ"]')."""
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError('a list: comma-separated (SPY,QQQ) or JSON (["SPY", "QQQ"])') from None
        return value.replace(",", " ").split() if isinstance(value, str) else value

    @field_validator("price_symbols")
    @classmethod
    def _tickers(cls, value: list[str]) -> list[str]:
        """As the bar cache and the journal keep them (`spy` stayed lower case in `config show` and the trained
        model's symbols while its bars and forecasts were SPY's); a symbol that cannot name a cache file is
        refused here, not when the first bars are fetched."""
        for symbol in value:
            if (problem := symbol_problem(symbol)) is not None:
                raise ValueError(problem)
        return [ticker(symbol) for symbol in value]

    @field_validator("host", mode="before")
    @classmethod
    def _host(cls, value: Any) -> Any:
        """An empty host (an unset ${HOST} in a deploy file) made uvicorn listen on every interface."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("empty: give 127.0.0.1 (this host only) or 0.0.0.0 (every interface)")
        return value.strip() if isinstance(value, str) else value

    @field_validator(*PATHS, mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        """`~` expanded (a literal ./~/x.db was made); an empty path (an unset variable) is refused, not `.`."""
        if isinstance(value, str | Path):
            if not str(value).strip():
                raise ValueError("empty: give a path")
            return Path(value).expanduser()
        return value

    @field_validator(*DIRECTORIES)
    @classmethod
    def _directory(cls, value: Path | None) -> Path | None:
        """A directory setting naming a file failed later, inside uvicorn's start-up, as a traceback."""
        if value is not None and value.exists() and not value.is_dir():
            raise ValueError("is a file: give a directory")
        return value

    @field_validator("triton_url")
    @classmethod
    def _triton_url(cls, value: str) -> str:
        """host:port (IPv6 in brackets) or a target of gRPC's resolvers: `localhost` alone failed later."""
        target = value.strip()
        if GRPC_TARGET.match(target):
            return target
        if "://" in target:
            raise ValueError("a gRPC target, not a URL: host:port such as 127.0.0.1:8001 (or dns:///name:8001)")
        _, colon, port = target.rpartition(":")  # an empty host (:8001) is every interface to `triton start`
        if not colon or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(
                "must be host:port, such as 127.0.0.1:8001, or a gRPC target such as dns:///name:8001"
            )
        return target

    @field_validator("price_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value not in INTERVAL_SECONDS:
            raise ValueError(f"unknown bar interval; one of {', '.join(INTERVAL_SECONDS)}")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        """The name of a variable, not the key: a key put here was printed in the start-up line."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must name an environment variable (such as ML_API_KEY); the key itself goes in it")
        return value

    @field_validator(
        "bayes_prior_alpha",
        "bayes_prior_beta",
        "bayes_pnl_prior_mean",
        "bayes_pnl_prior_kappa",
        "bayes_pnl_prior_shape",
        "bayes_pnl_prior_scale",
        "bayes_half_life_days",
        "bayes_min_trades",
        "sentiment_max_wait_ms",
        "triton_timeout_s",
        "rate_limit_per_minute",
    )
    @classmethod
    def _finite(cls, value: float, info: ValidationInfo) -> float:
        """An infinite prior made every win rate NaN and the weights silently equal (a review)."""
        if not math.isfinite(value):
            hint = "; 0 disables forgetting" if info.field_name == "bayes_half_life_days" else ""
            raise ValueError(f"must be a finite number{hint}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.bayes_weight_floor > self.bayes_weight_cap:
            floor, cap = self.bayes_weight_floor, self.bayes_weight_cap
            raise ValueError(f"bayes_weight_floor={floor} is above bayes_weight_cap={cap}")
        shape, scale, kappa = self.bayes_pnl_prior_shape, self.bayes_pnl_prior_scale, self.bayes_pnl_prior_kappa
        if not math.isfinite(scale / (shape * kappa)):  # the prior's spread of the mean: the interval was NaN
            raise ValueError(
                f"bayes_pnl_prior_scale={scale:g} / (bayes_pnl_prior_shape={shape:g} x bayes_pnl_prior_kappa="
                f"{kappa:g}), the prior's variance of the mean P&L, is not a finite number: give a smaller scale "
                "or a larger shape or kappa"
            )
        return self
