"""Triton's model-repository API, from an audit: a load request carries a model's config and files, and Triton
runs them. Against `investiq triton start`, a python-backend model.py POSTed to its HTTP port ran as Triton's user
and read the gateway's API key, which Triton and its stubs inherited with the whole environment; a browser-shaped
request (text/plain, another Origin) did the same. A real tritonserver here: that API (and shared-memory
registration) answers only calls with the admin token, which the gateway's reload and `investiq triton status`
send; inference and health need none; Triton gets no secret of the environment. Compose and Kubernetes start Triton
with the same restriction (tests/ops/test_kubernetes.py checks the manifests, NetworkPolicies included)."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import numpy as np
import pytest
import yaml

from gateway.backends.triton import TritonBackend
from gateway.backends.triton_admin import (
    ADMIN_HEADER,
    ADMIN_TOKEN_ENV,
    GRPC_ADMIN_HEADER,
    LOCAL_TOKENS,
    TOKEN_FILE,
)
from harness import standin_finbert
from harness.processes import start_triton
from investiq.core.errors import ModelNotReadyError
from investiq.core.finbert import FINBERT
from investiq.core.settings import Settings
from investiq.ops.triton_server import (
    TritonError,
    TritonPorts,
    admin_token,
    missing,
    models,
    ready,
    restricted_flags,
    stop,
    work_dir,
)

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "the-gateways-api-key-0123456789"  # made up, to be looked for
# beside ML_API_KEY: a variable with another name (api_key_env may name any) and one of another program
SECRETS = {
    "ML_API_KEY": API_KEY,
    "GATEWAY_KEY_OF_ANOTHER_NAME": API_KEY,
    "AWS_SECRET_ACCESS_KEY": "aws-" + API_KEY,
}
WRONG = "not-the-admin-token-0123456789"


def needs_triton() -> None:
    if (reason := missing()) is not None:  # the `triton` extra, in .venv-triton (numpy<2) or here
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TritonPorts, Settings, Path]]:
    """A tritonserver as `investiq triton start` runs it (the work directory its settings name), started from an
    environment holding the gateway's API key and other secrets, with no TRITON_ADMIN_TOKEN: it makes its own."""
    needs_triton()
    root = tmp_path_factory.mktemp("triton-security")
    repo = standin_finbert.repository(root / "repo")
    work = work_dir(Settings(logs_dir=root / "logs"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRETS.items():
            patch.setenv(name, value)
        patch.delenv(ADMIN_TOKEN_ENV, raising=False)
        _, ports = start_triton(repo, work)  # on the ports it listens on: picked, or picked again where taken
    settings = Settings(
        logs_dir=root / "logs",
        triton_http_port=ports.http,
        triton_metrics_port=ports.metrics,
        triton_url=f"127.0.0.1:{ports.grpc}",
    )
    try:
        yield ports, settings, root
    finally:
        stop(work)


@pytest.fixture(autouse=True)
def no_token_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)


def token_of(settings: Settings) -> str:
    return (work_dir(settings) / TOKEN_FILE).read_text().strip()


def post(ports: TritonPorts, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = Request(f"http://127.0.0.1:{ports.http}{path}", data=body, headers=headers, method="POST")
    try:
        with urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def payload(marker: Path) -> tuple[str, bytes]:
    """The audit's load request: a python-backend model whose code, run at load, writes the API key it can read
    to `marker`. Its config, and its model.py as a base64 "file:" parameter."""
    code = (
        "import os\n"
        f"open({str(marker)!r}, 'w').write(os.environ.get('ML_API_KEY', 'no key'))\n"
        "class TritonPythonModel:\n"
        "    def execute(self, requests):\n"
        "        return []\n"
    )
    config = {
        "backend": "python",
        "max_batch_size": 0,
        "input": [{"name": "I", "data_type": "TYPE_FP32", "dims": [1]}],
        "output": [{"name": "O", "data_type": "TYPE_FP32", "dims": [1]}],
    }
    return json.dumps(config), code.encode()


def test_a_load_request_without_the_admin_token_is_refused_and_runs_nothing(
    server: tuple[TritonPorts, Settings, Path], tmp_path: Path
):
    ports, settings, _ = server
    marker = tmp_path / "ran"
    config, code = payload(marker)
    body = json.dumps({"parameters": {"config": config, "file:1/model.py": base64.b64encode(code).decode()}})
    as_sent = {
        "json": {"Content-Type": "application/json"},
        # what a page of another origin can send from a browser without a preflight
        "browser": {"Content-Type": "text/plain", "Origin": "http://attacker.example"},
        "wrong token": {"Content-Type": "application/json", ADMIN_HEADER: WRONG},
    }
    for name, headers in as_sent.items():
        status, answer = post(ports, "/v2/repository/models/pwn/load", body.encode(), headers)
        assert status == 403 and f"expecting header '{ADMIN_HEADER}'" in answer, (name, status, answer)
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{ports.grpc}")
    try:
        for grpc_headers in (None, {GRPC_ADMIN_HEADER: WRONG}):
            with pytest.raises(InferenceServerException, match="restricted"):
                client.load_model("pwn", headers=grpc_headers, config=config, files={"file:1/model.py": code})
        with pytest.raises(InferenceServerException, match="restricted"):  # the shared-memory API too
            client.register_system_shared_memory("region", "/investiq-region", 64)
    finally:
        client.close()
    assert not marker.exists()  # the code never ran
    status, index = post(ports, "/v2/repository/index", b"{}", {ADMIN_HEADER: token_of(settings)})
    assert status == 200 and "pwn" not in {m["name"] for m in json.loads(index)}, index


def session_environments(pid: int) -> list[dict[str, str]]:
    """The environment of each process of the session that `start` began for the server (its stubs too)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == pid:  # the session id: the server's own PID
                raw = (proc / "environ").read_bytes()
                found.append(dict(v.decode().partition("=")[::2] for v in raw.split(b"\0") if v))
        except (OSError, IndexError):
            continue
    return found


def test_triton_and_its_stubs_get_no_secret_of_the_environment(server: tuple[TritonPorts, Settings, Path]):
    _, settings, _ = server
    from investiq.ops.triton_server import running

    pid = running(work_dir(settings))
    assert pid is not None
    environments = session_environments(pid)
    assert len(environments) >= 2, environments  # the server and the stand-in FinBERT's python stub
    for environment in environments:
        assert not set(SECRETS) & set(environment), sorted(environment)
        assert not any(API_KEY in value for value in environment.values())
        assert ADMIN_TOKEN_ENV not in environment and token_of(settings) not in "".join(environment.values())
        assert "nvidia_pytriton.libs" in environment["LD_LIBRARY_PATH"]  # what it needs, it has


def test_the_gateways_reload_sends_the_token_and_inference_and_health_need_none(
    server: tuple[TritonPorts, Settings, Path], monkeypatch: pytest.MonkeyPatch
):
    ports, settings, _ = server
    target = f"127.0.0.1:{ports.grpc}"
    token = token_of(settings)

    async def reload(backend: TritonBackend) -> None:
        try:
            await backend.reload(FINBERT)
        finally:
            await backend.close()

    asyncio.run(reload(TritonBackend(target, 30)))  # the token of the Triton this process started
    asyncio.run(reload(TritonBackend(target, 30, admin_token=token)))  # a gateway told it
    with monkeypatch.context() as patch:  # a gateway in another process: the deployment's variable
        patch.delitem(LOCAL_TOKENS, ports.grpc)
        patch.setenv(ADMIN_TOKEN_ENV, token)
        asyncio.run(reload(TritonBackend(target, 30)))
    with pytest.raises(
        ModelNotReadyError, match=f"the token this gateway sent is not Triton's: set {ADMIN_TOKEN_ENV}"
    ):
        asyncio.run(reload(TritonBackend(target, 30, admin_token=WRONG)))
    with monkeypatch.context() as patch:
        patch.delitem(LOCAL_TOKENS, ports.grpc)
        with pytest.raises(ModelNotReadyError, match="this gateway has none"):
            asyncio.run(reload(TritonBackend(target, 30)))

    async def infer() -> Any:
        backend = TritonBackend(target, 30, admin_token=WRONG)
        try:
            text = {"TEXT": np.array([["rates unchanged"]], dtype=object)}
            return (await backend.infer(FINBERT, text))["probabilities"], await backend.ready(FINBERT)
        finally:
            await backend.close()

    probabilities, model_ready = asyncio.run(infer())
    assert probabilities.shape == (1, 3) and model_ready
    assert ready(ports) and ready(ports, FINBERT)  # HTTP health, no header


def test_status_from_another_process_reads_the_work_directorys_token(
    server: tuple[TritonPorts, Settings, Path], monkeypatch: pytest.MonkeyPatch
):
    """`investiq triton status` lists each model from the repository index, a restricted API: its ports from the
    settings carry the token `start` wrote; without it the index is refused."""
    ports, settings, _ = server
    monkeypatch.delitem(LOCAL_TOKENS, ports.grpc)  # not the process that started it
    assert models(TritonPorts(ports.http, ports.grpc, ports.metrics)) is None  # refused
    assert models(TritonPorts.from_settings(settings)) == {FINBERT: None}
    assert token_of(settings) not in repr(TritonPorts.from_settings(settings))  # it may be logged


def test_the_admin_token_is_made_once_for_its_user_and_the_deployments_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    work = tmp_path / "work"
    made = admin_token(work)
    assert stat.S_IMODE((work / TOKEN_FILE).stat().st_mode) == 0o600  # this user's only
    assert len(made) >= 32 and admin_token(work) == made  # kept: a restarted Triton wants what gateways send
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "the-deployments-token-0123456789")
    assert admin_token(tmp_path / "other") == "the-deployments-token-0123456789"
    assert not (tmp_path / "other" / TOKEN_FILE).exists()  # one source: the variable
    for unfit in ("short", "has:a,colon=0123456789", "has space 0123456789"):  # Triton's flag could not carry it
        monkeypatch.setenv(ADMIN_TOKEN_ENV, unfit)
        with pytest.raises(TritonError, match=f"admin token in {ADMIN_TOKEN_ENV}"):
            admin_token(work)


def compose_triton() -> tuple[list[str], dict[str, Any]]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services["triton"]["command"], services["gateway"]["environment"]


def test_compose_restricts_triton_as_triton_start_does_and_gives_the_gateway_the_token():
    command, gateway = compose_triton()
    variable = "${" + ADMIN_TOKEN_ENV + ":?}"  # required: compose refuses to start without it
    assert [a for a in command if "restricted" in a] == restricted_flags(variable)
    assert gateway[ADMIN_TOKEN_ENV].startswith("${" + ADMIN_TOKEN_ENV + ":?")


def test_a_gateway_in_another_process_sends_the_token_a_local_start_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`investiq start` runs the gateway in a process of its own: it had no token, and every reload of the Triton
    that `triton start` had started failed. It reads the one saved in LOGS_DIR/triton, for a Triton on this host
    only; TRITON_ADMIN_TOKEN wins."""
    from gateway.backends.triton_admin import configured_token
    from gateway.wiring import build_backend

    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    saved = admin_token(tmp_path / "logs" / "triton")  # as `investiq triton start` makes it
    assert configured_token("127.0.0.1:8001", tmp_path / "logs") == saved
    assert configured_token("triton.example:8001", tmp_path / "logs") is None  # not sent to another host
    assert configured_token("127.0.0.1:8001", tmp_path / "elsewhere") is None
    settings = Settings(backend="triton", triton_url="127.0.0.1:8001", logs_dir=tmp_path / "logs")
    backend = build_backend(settings)
    assert isinstance(backend, TritonBackend) and backend._admin_token == saved
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "x" * 24)
    assert configured_token("127.0.0.1:8001", tmp_path / "logs") == "x" * 24
