"""A local Triton server without Docker: the `tritonserver` binary that the nvidia-pytriton wheel ships.

    investiq triton start|stop|status

It serves the cpu flavour of the model repository (python-backend adapters running ONNX Runtime).
The wheel's python backend crashes with numpy 2, so the server usually runs from a virtual environment
of its own (`triton_env`; by default the checkout's .venv-triton, made by scripts/test.sh), while the
gateway and its tritonclient run on numpy 2 here. Its stubs embed their own libpython and take the
packages of the environment whose `python3` comes first on PATH, so that environment's bin/ goes first.
The python backend needs a backend directory holding libtriton_python.so, its utils module and the stub
built for that environment's Python version; it is assembled under logs/triton/ from the wheel.
The server runs in its own session, logs to a file and leaves a PID file, so that `stop` and
`status` find it from another shell. Its model-repository and shared-memory APIs answer only calls with the admin
token (`admin_token`: TRITON_ADMIN_TOKEN, else the work directory's admin-token file), and it gets none of this
environment's secrets (`server_environment`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.request import Request, urlopen

from gateway.backends.triton_admin import ADMIN_HEADER, ADMIN_TOKEN_ENV, LOCAL_TOKENS, TOKEN_FILE, WORK_DIR
from gateway.backends.triton_admin import admin_token as known_admin_token
from investiq.core.errors import InvestIQError
from investiq.core.finbert import FINBERT, FINBERT_MODEL, FINBERT_POSTPROCESS, FINBERT_TOKENIZER, TOKENIZER_STAMP
from investiq.core.ports import free_ports
from investiq.core.settings import Settings
from investiq.ops import pidfile

# What /proc/PID/cmdline of our server holds: a PID file naming anything else is stale.
_PROGRAM = "tritonserver"


class TritonError(InvestIQError):
    """The local Triton server cannot be started, found or stopped; the message says what to do."""


@dataclass(frozen=True)
class TritonPorts:
    """Where a local tritonserver listens: its three ports, on `address` (loopback unless asked otherwise:
    Triton's model control API loads and unloads models for anyone who reaches it)."""

    http: (
        int  # the settings' triton_http_port, triton_url's port and triton_metrics_port by default (from_settings)
    )
    grpc: int
    metrics: int
    address: str = "127.0.0.1"
    # what its restricted APIs want, for `models` (the repository index); None: found as a backend finds it
    admin_token: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> TritonPorts:
        """HTTP and metrics ports from their settings; gRPC from the port of `triton_url`, and the address from
        its host: loopback for 127.0.0.1 or localhost, IPv6's loopback for [::1] (it was 127.0.0.1, which a gateway
        at [::1] cannot reach, while `is_local` took it and `start` said ready: an audit), every interface for
        0.0.0.0 (or none given), as the gateway's own --host binds. The admin token: the one `start` uses, where
        it has made it (`investiq triton status` from another shell)."""
        host = settings.triton_url.rsplit(":", 1)[0].strip("[]")
        loopback = "::1" if host == "::1" else "127.0.0.1"
        address = "0.0.0.0" if host in ("0.0.0.0", "") else loopback  # noqa: S104  (asked for in triton_url)
        grpc = _url_port(settings.triton_url)
        token = existing_token(work_dir(settings))
        return cls(settings.triton_http_port, grpc, settings.triton_metrics_port, address, token)

    @property
    def local(self) -> str:
        """The host by which this machine reaches the server in a URL: [::1] where it listens there only."""
        return "[::1]" if self.address == "::1" else "127.0.0.1"

    def address_flags(self) -> list[str]:
        """tritonserver's flags for `address`. Triton 2.51 joins the gRPC address and port with a colon, so IPv6's
        takes brackets ("::1" failed to start); its HTTP and metrics servers (libevhtp) read an IPv6 address with
        the prefix "ipv6:" ("::1" and "[::1]" bound 255.255.255.255), as its log of a start with each showed."""
        if ":" in self.address:
            grpc, http = f"[{self.address}]", f"ipv6:{self.address}"
        else:
            grpc = http = self.address
        return [f"--http-address={http}", f"--grpc-address={grpc}", f"--metrics-address={http}"]

    def taken(self) -> list[str]:
        """Each port that a server could not bind now, with what holds it: another Triton (the compose one, or
        one started from another directory) would answer this one's readiness check."""
        taken = []
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        for name, port in (("HTTP", self.http), ("gRPC", self.grpc), ("metrics", self.metrics)):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.address, port))
                except OSError:
                    holder = pidfile.listener(port)
                    who = f" (PID {holder}: {pidfile.command(holder)})" if holder is not None else ""
                    taken.append(f"{name} port {port}{who}")
        return taken

    @classmethod
    def free(cls) -> TritonPorts:
        """Three distinct free ports (tests and benchmarks run their own Triton beside any other)."""
        http, grpc, metrics = free_ports(3)
        return cls(http, grpc, metrics)


def _url_port(address: str) -> int:
    return int(address.rsplit(":", 1)[-1])


def work_dir(settings: Settings) -> Path:
    """Where the local server keeps its PID file, log and backend directory."""
    return settings.logs_dir / WORK_DIR


def is_local(settings: Settings) -> bool:
    """Whether `triton_url` points at this host, i.e. at a server `investiq triton start` can run."""
    host = settings.triton_url.rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")  # noqa: S104  (compared, not bound)


COMMITTED = Path(__file__).resolve().parents[2] / "model_repository"  # the checkout's configs and adapters
CHECKOUT_ENV = COMMITTED.parent / ".venv-triton"  # where scripts/test.sh installs the `triton` extra


@dataclass(frozen=True)
class Server:
    """A tritonserver of nvidia-pytriton: the environment it is installed in, its root in the wheel, and
    that environment's Python version (major.minor: the python backend stub must match it)."""

    env: Path
    root: Path
    python: str


def server_env(configured: Path | None = None) -> Path:
    """`configured` (the `triton_env` setting), else the checkout's .venv-triton when it exists, else this
    environment (one with the `triton` extra, hence numpy<2)."""
    if configured is not None:
        return configured
    return CHECKOUT_ENV if CHECKOUT_ENV.is_dir() else Path(sys.prefix)


def find_server(configured: Path | None = None) -> Server:
    """The tritonserver that `start` runs; TritonError saying how to install one when there is none."""
    env = server_env(configured)
    for package in sorted(env.glob("lib/python3.*/site-packages/pytriton")):
        return Server(env, package / "tritonserver", package.parent.parent.name.removeprefix("python"))
    raise TritonError(
        f"no tritonserver in {env} (nvidia-pytriton is not installed there): `bash scripts/test.sh` makes "
        f"{CHECKOUT_ENV.name} with it, or: python3 -m venv {CHECKOUT_ENV.name} && "
        f"{CHECKOUT_ENV.name}/bin/pip install -e '.[triton]' (numpy<2: keep it out of the gateway's environment)"
    )


def missing(configured: Path | None = None) -> str | None:
    """Why no local tritonserver can start (tests skip with it), or None when one can."""
    try:
        find_server(configured)
    except TritonError as exc:
        return str(exc)
    return None


def backend_directory(work: Path, server: Server) -> Path:
    """work/backends/python with links to the wheel's python backend and the stub for its Python."""
    root = server.root
    stub = root / "python_backend_stubs" / server.python / "triton_python_backend_stub"
    if not stub.is_file():
        raise TritonError(
            f"nvidia-pytriton ships no python backend stub for Python {server.python} ({server.env})"
        )
    target = work / "backends" / "python"
    target.mkdir(parents=True, exist_ok=True)
    for source in (
        root / "backends" / "python" / "libtriton_python.so",
        root / "backends" / "python" / "triton_python_backend_utils.py",
        stub,
    ):
        link = target / source.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source)
    return work / "backends"


ENSEMBLE_STEPS = (FINBERT, FINBERT_TOKENIZER, FINBERT_POSTPROCESS)  # committed version directories


def copy_configs(repository: Path) -> None:
    """Make `repository` a Triton repository: the committed config.pbtxt files (both flavours) and the
    ensemble's committed version directories, beside whatever exports it already holds."""
    shutil.copytree(
        COMMITTED, repository, ignore=shutil.ignore_patterns("README.md", "__pycache__", "1"), dirs_exist_ok=True
    )
    for name in ENSEMBLE_STEPS:  # not a local export's tokenizer stamp: it describes this checkout's vocabulary
        skipped = shutil.ignore_patterns(TOKENIZER_STAMP, "__pycache__")
        shutil.copytree(COMMITTED / name / "1", repository / name / "1", ignore=skipped, dirs_exist_ok=True)


def configured(repository: Path) -> list[str]:
    """Give each export in `repository` that has no config.pbtxt the checkout's (its `configs/` too), and FinBERT's
    the ensemble's steps where they are missing; return the models given one. A repository that `up` or `export`
    made outside the checkout had none: Triton guessed a config, found no onnxruntime backend in the pip server,
    and `triton start` said ready with every model failed (a review). Configs already there are left as they are
    (an operator's own)."""
    given = []
    for committed in sorted(p for p in COMMITTED.iterdir() if (p / "config.pbtxt").is_file()):
        target = repository / committed.name
        if not target.is_dir() or (target / "config.pbtxt").exists():
            continue
        skipped = shutil.ignore_patterns("README.md", "__pycache__", "1")
        shutil.copytree(committed, target, ignore=skipped, dirs_exist_ok=True)
        given.append(committed.name)
    if FINBERT_MODEL in given:
        for name in ENSEMBLE_STEPS:
            if not (repository / name).exists():
                skipped = shutil.ignore_patterns(TOKENIZER_STAMP, "__pycache__")
                shutil.copytree(COMMITTED / name, repository / name, ignore=skipped)
                given.append(name)
    return given


def ready(ports: TritonPorts, model: str | None = None, timeout_s: float = 1.0) -> bool:
    path = f"/v2/models/{model}/ready" if model else "/v2/health/ready"
    try:
        with urlopen(f"http://{ports.local}:{ports.http}{path}", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (URLError, OSError):
        return False


# A token Triton's flag can carry (its value ends the flag; ":", "," and "=" separate its parts) and no one guesses
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,}")
RESTRICTED_APIS = "model-repository,shared-memory"  # gateway/backends/triton_admin.py says why


def admin_token(work: Path) -> str:
    """The token Triton's restricted APIs want: TRITON_ADMIN_TOKEN where set (one value for Triton and every
    gateway: systemd's EnvironmentFile, compose, a Kubernetes secret), else `work`/admin-token, made at the first
    start (random, readable by this user only) and kept, so that a Triton restarted wants what gateways send."""
    token = existing_token(work)
    if token is None:
        token = _token_file(work)
    if not TOKEN_PATTERN.fullmatch(token):
        if os.environ.get(ADMIN_TOKEN_ENV):
            where, fix = ADMIN_TOKEN_ENV, "set one"
        else:
            where, fix = str(work / TOKEN_FILE), f"delete it (the next start makes one), or set {ADMIN_TOKEN_ENV}"
        raise TritonError(
            f"the Triton admin token in {where} is not 16 or more letters, digits, - or _: {fix}, e.g. "
            f"`export {ADMIN_TOKEN_ENV}=$(openssl rand -hex 24)`"
        )
    return token


def _token_file(work: Path) -> str:
    """What `work`/admin-token holds, made first where there is none: random, this user's alone, and written whole
    before it appears under its name (a start stopped while writing it left an empty file, which every later start
    then took for none and tried to make again, without end: a RecursionError), so another start reads it whole."""
    path = work / TOKEN_FILE
    work.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{TOKEN_FILE}.", dir=work)  # this user's alone (0600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        os.link(temp, path)  # where no token file is there yet
    except FileExistsError:  # there is one: another start made it meanwhile, or it is unfit (said by the caller)
        pass
    finally:
        os.unlink(temp)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise TritonError(
            f"cannot read the Triton admin token in {path}: {exc.strerror}; give this user its file, or set "
            f"{ADMIN_TOKEN_ENV}"
        ) from None


def existing_token(work: Path) -> str | None:
    """`admin_token` without making one: None before the first start, or where this user cannot read it."""
    if token := os.environ.get(ADMIN_TOKEN_ENV):
        return token
    try:
        return (work / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def restricted_flags(token: str) -> list[str]:
    """tritonserver's flags that restrict RESTRICTED_APIS, over HTTP and gRPC, to calls carrying `token`."""
    rule = f"{RESTRICTED_APIS}:{ADMIN_HEADER}={token}"
    return [f"--http-restricted-api={rule}", f"--grpc-restricted-protocol={rule}"]


# What tritonserver and its python-backend stubs, which run the repository's code, get of this environment: what
# they use. It got all of it, the gateway's API key among it (ML_API_KEY, or whichever variable the setting
# api_key_env names: `start` is not told which), and a model loaded through the model-repository API read it (an
# audit); a list of what to keep leaves out every secret, whatever its name.
KEPT_VARIABLES = ("HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "TOKENIZERS_PARALLELISM")
KEPT_PREFIXES = ("LC_", "OMP_", "KMP_", "MKL_", "OPENBLAS_", "CUDA_", "NVIDIA_")


def server_environment(server: Server) -> dict[str, str]:
    """tritonserver's environment: KEPT_VARIABLES and KEPT_PREFIXES of this one, the wheel's libraries and the
    server environment's bin/ first on PATH (the stubs run the adapters with its packages: numpy<2)."""
    kept = {k: v for k, v in os.environ.items() if k in KEPT_VARIABLES or k.startswith(KEPT_PREFIXES)}
    libs = server.root.parent.parent / "nvidia_pytriton.libs"
    return kept | {
        "LD_LIBRARY_PATH": _first_on(libs, "LD_LIBRARY_PATH"),
        "PATH": _first_on(server.env.resolve() / "bin", "PATH"),
    }


def _first_on(folder: Path, variable: str) -> str:
    """`folder` ahead of this environment's search path `variable`, with no empty entry: "<libs>:" (the variable
    unset, as LD_LIBRARY_PATH usually is) made the dynamic linker search the current directory too (an audit)."""
    return ":".join(filter(None, (str(folder), os.environ.get(variable))))


def models(ports: TritonPorts, timeout_s: float = 5.0) -> dict[str, str | None] | None:
    """Each model of the server's repository: None when a version of it is ready, else why not (the first line
    of Triton's reason, or its state); None when the server does not answer. The server is ready with every
    model failed to load (--exit-on-error=false, so that one model not exported yet leaves the others serving),
    and `start` and `status` said "ready" then (a review). The index is restricted: the admin token goes along."""
    headers = {}
    if token := ports.admin_token or known_admin_token(f"{ports.local}:{ports.grpc}"):
        headers[ADMIN_HEADER] = token
    url = f"http://{ports.local}:{ports.http}/v2/repository/index"
    request = Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urlopen(request, timeout=timeout_s) as response:  # noqa: S310  (http, built above)
            index = json.loads(response.read())
    except (URLError, OSError, ValueError):
        return None
    if not isinstance(index, list) or not all(isinstance(m, dict) and "name" in m for m in index):
        return None  # JSON, but not Triton's index (another service on the port): `status` raised AttributeError
    ready_ones = {m["name"] for m in index if m.get("state") == "READY"}
    why: dict[str, str | None] = dict.fromkeys(ready_ones)
    for model in index:
        reason = (model.get("reason") or model.get("state") or "").strip().splitlines()
        why.setdefault(model["name"], reason[0] if reason else "not loaded")
    return why


def not_ready(found: dict[str, str | None] | None) -> dict[str, str]:
    """The models of `models(...)` that are not ready, with why."""
    return {name: why for name, why in (found or {}).items() if why is not None}


def log_path(work: Path) -> Path:
    """The server's log file in its work directory."""
    return work / "triton.log"


def start(
    repository: Path, ports: TritonPorts, work: Path, wait_s: float = 120.0, server_env: Path | None = None
) -> int:
    """Start tritonserver (`find_server(server_env)`) on `repository`; return its PID once /v2/health/ready
    answers (models that failed to load do not stop it: see `not_ready`)."""
    pid_file, log_file = work / "triton.pid", log_path(work)
    if not repository.is_dir():  # Triton started, could not read it, and was waited on for 120 s (a review)
        raise TritonError(
            f"cannot start Triton: the model repository {repository} is not a folder; point the setting "
            f"model_repository at one (the checkout's, {COMMITTED}, holds the configs `investiq export` adds to)"
        )
    if (pid := running(work)) is not None:
        raise TritonError(f"Triton is already running (PID {pid}); `investiq triton stop` first")
    if taken := ports.taken():
        raise TritonError(
            f"cannot start Triton: {', '.join(taken)} already in use. Stop that server, or give this one other "
            "ports (settings triton_http_port, the port of triton_url, triton_metrics_port)"
        )
    configured(repository)
    server = find_server(server_env)
    token = admin_token(work)
    cmd = [
        str(server.root / "bin" / "tritonserver"),
        f"--model-repository={repository.resolve()}",
        f"--backend-directory={backend_directory(work, server)}",
        f"--http-port={ports.http}",
        f"--grpc-port={ports.grpc}",
        f"--metrics-port={ports.metrics}",
        *ports.address_flags(),
        # explicit: every model at start, then new versions only when asked (`investiq retrain`,
        # `investiq models promote|rollback`), so a version that fails to load never replaces one that works
        "--model-control-mode=explicit",
        "--load-model=*",
        "--exit-on-error=false",  # a model not exported yet must not take the others down
        "--strict-readiness=false",
        # last: a message that shows the command line shows its start, not the token (pidfile.command)
        *restricted_flags(token),
    ]
    work.mkdir(parents=True, exist_ok=True)
    env = server_environment(server)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # noqa: S603
    pid_file.write_text(str(proc.pid))
    LOCAL_TOKENS[ports.grpc] = token  # a backend made in this process sends it (tests, benchmarks)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise TritonError(f"tritonserver exited with {proc.returncode}; see {log_file}")
        if ready(ports) and proc.poll() is None:
            return proc.pid
        time.sleep(0.25)
    stop(work)
    raise TritonError(f"tritonserver was not ready after {wait_s:.0f} s; see {log_file}")


def running(work: Path) -> int | None:
    """The PID of the server this work directory started, if it is alive."""
    return pidfile.read(work / "triton.pid", _PROGRAM)


def elsewhere(pid: int, ports: TritonPorts) -> str | None:
    """Where the server `pid` (started by `start`) listens other than `ports` (the settings') say, as its command
    line tells ("gRPC port 8001 where the settings name 9001"); None where it listens there, or where its command
    line cannot be read."""
    given = dict(arg.removeprefix("--").split("=", 1) for arg in pidfile.arguments(pid) or [] if "=" in arg)
    wanted = {
        "HTTP": ("http-port", ports.http),
        "gRPC": ("grpc-port", ports.grpc),
        "metrics": ("metrics-port", ports.metrics),
    }
    differ = [
        f"{name} port {given[flag]} where the settings name {port}"
        for name, (flag, port) in wanted.items()
        if flag in given and given[flag] != str(port)
    ]
    return ", ".join(differ) or None


def stop(work: Path, wait_s: float = 30.0) -> bool:
    """SIGTERM (Triton drains in-flight requests), then SIGKILL after wait_s; False if none ran."""
    pid = running(work)
    (work / "triton.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    pidfile.terminate(pid, wait_s, _PROGRAM)
    return True
