"""What `investiq up` prepares before it serves: the journal, FinBERT's export, a first price model.

Each step does only what is missing and says why it skipped what it cannot do (no PyTorch, no
weights offline), so a first start on a bare machine still serves: the finance lexicon until FinBERT
is exported.
"""

from __future__ import annotations

import ipaddress
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from investiq.core.artifacts import META
from investiq.core.errors import ExportError, SettingsError
from investiq.core.finbert import FINBERT, WeightsError, finbert_dir
from investiq.core.journal import migrate, open_journal
from investiq.core.patchtst import PATCHTST
from investiq.core.settings import API_KEY_HEADER, Settings
from investiq.core.versions import serving
from investiq.ops.service import check_port
from investiq.ops.serving import http_url, serving_record

Log = Callable[[str], None]
FALLBACK = "sentiment is served by the finance lexicon until FinBERT is exported"


def init_journal(settings: Settings) -> int:
    """Create or migrate the journal; its schema version. JournalError names the path and what to do."""
    conn = open_journal(settings.db_path, settings.db_busy_timeout_ms)
    try:
        return migrate(conn)
    finally:
        conn.close()


def prepare_finbert(settings: Settings, log: Log) -> None:
    """Export FinBERT if it is wanted, missing, and its weights can be had; else say why not."""
    target = finbert_dir(settings.model_repository)
    if settings.sentiment_model != FINBERT or (target / META).is_file():
        return
    try:
        import torch  # noqa: F401  (the `train` extra)
    except ImportError:
        log(f"FinBERT is not exported and PyTorch is missing (pip install -e '.[train]'): {FALLBACK}")
        return
    from training.finbert import unloadable

    reason = unloadable(settings.finbert_model)
    if reason is not None:
        log(f"FinBERT is not exported: {reason}. {FALLBACK} (see `investiq export finbert --help`)")
        return
    from export.finbert import export_finbert

    log(f"exporting FinBERT from {settings.finbert_model} (first start only)")
    try:
        export_finbert(settings.finbert_model, settings.model_repository, quantize=settings.quantize, log=log)
    except (ExportError, WeightsError) as exc:
        log(f"FinBERT export failed: {exc}. {FALLBACK}")


def prepare_patchtst(settings: Settings, log: Log) -> None:
    """Train a quick first PatchTST (configured bars, else the offline sample) and export it."""
    if serving(settings.model_repository, PATCHTST) is not None:
        return
    try:
        import torch  # noqa: F401  (the `train` extra)

        from investiq.ops.patchtst import quick_model
    except ImportError as exc:
        log(f"PatchTST is not exported and {exc.name} is missing (pip install -e '.[train]'): /price is down")
        return
    quick_model(settings, log)


def prepare(settings: Settings, log: Log) -> None:
    """Everything `up` does before serving."""
    writable(settings)
    log(f"journal ready: {settings.db_path} (schema version {init_journal(settings)})")
    prepare_finbert(settings, log)
    prepare_patchtst(settings, log)


def writable(settings: Settings) -> None:
    """SettingsError unless this user can write the folders `up` writes its models to: a read-only model
    repository was found after the whole quick training, up to quick_train_budget_s (a review), with a
    message that named no setting."""
    for name in ("model_repository", "models_dir"):
        folder = Path(getattr(settings, name))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise SettingsError(
                f"{name} {folder} cannot be written by this user ({exc.strerror}): `up` keeps the models it "
                f"trains and exports there; set {name} (INVESTIQ_{name.upper()}) to a folder it can write"
            ) from None


def is_loopback(host: str) -> bool:
    """Whether `host` is reached from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return False


def more_descriptors() -> int:
    """Raise this process's soft limit on open files to its hard limit, and return it: each connection holds one,
    and at systemd's default soft limit of 1,024 about a thousand idle connections, no key needed, left the
    gateway refusing every request, its health checks too, without a log line (a review). The header deadline
    frees each after http_header_timeout_s; the higher limit makes a flood take far more than one host's."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft and (hard == resource.RLIM_INFINITY or hard > soft):
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # a container's seccomp or a kernel's nr_open: keep what there is
            return soft
        return wanted
    return soft


def serve(settings: Settings, log_level: str, log: Log) -> None:
    """Serve the gateway in the foreground until interrupted (uvicorn). An InvestIQError says what to
    change: PortInUseError when HOST:PORT is taken (checked first: uvicorn's own bind failure is only a
    log line and exit status 3), a journal or model repository that cannot be used."""
    check_port(settings)
    more_descriptors()
    import uvicorn

    from gateway.app import create_app
    from gateway.logs import configure_logging
    from gateway.server import deadline_protocol
    from gateway.wiring import build_backend
    from investiq import __version__

    configure_logging(log_level, settings.log_format)  # first: loading the backend may log warnings
    init_journal(settings)  # clear errors before uvicorn starts, not a traceback inside it
    backend = build_backend(settings)
    key = f"on ({API_KEY_HEADER} required)" if settings.api_key else f"off (set {settings.api_key_env} to enable)"
    url = http_url(settings.host, settings.port)  # where it binds: 0.0.0.0 says every interface
    log(f"InvestIQ gateway {__version__} on {url}  journal={settings.db_path.resolve()}  api key {key}")
    if not settings.api_key and not is_loopback(settings.host):
        # the image listens on every interface: `docker run -p 8080:8080` served journal writes and model
        # reloads to anyone, unsaid (a review)
        logging.getLogger("investiq").warning(
            "listening on %s without an API key: anyone who reaches this port can write to the journal and "
            "reload models; set %s",
            settings.host,
            settings.api_key_env,
        )
    app = create_app(settings, backend)
    if not settings.api_key and is_loopback(settings.host):  # against DNS rebinding (HostGuardMiddleware)
        names = {"localhost", "127.0.0.1", "::1", settings.host, *settings.allowed_hosts}
        app.state.allowed_hosts = frozenset(name.lower() for name in names)
    # log_config=None: uvicorn keeps its hands off logging, so its lines go through our handler;
    # access_log=False: RequestContextMiddleware writes the one access line per request (with its id);
    # http: uvicorn's httptools protocol with read deadlines and a bound on a request's head: slow or stalled
    # clients are closed (gateway/server.py).
    # loop: uvloop where it is installed (a base dependency except on Windows), else asyncio's: one headline's
    # overhead 0.12 ms lower in 4 of 4 alternating runs (benchmarks/results/gateway_profile.md).
    # serving_record: rollouts and the Bayesian re-sync find this gateway whatever port it serves on
    # proxy_headers=False: a client's address is its connection's. uvicorn's default trusts X-Forwarded-For from
    # 127.0.0.1, where the agent runs: any local client sent one of its choosing per request and was never
    # rate-limited (the limiter keys key-less clients on their address), or spent another client's bucket.
    protocol = deadline_protocol(
        settings.http_header_timeout_s, settings.http_body_timeout_s, on_timeout=app.state.metrics.count_error
    )
    with serving_record(settings):
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            log_config=None,
            access_log=False,
            loop="auto",
            http=protocol,
            proxy_headers=False,
        )
