"""Deployment files: no Docker engine runs here, so their structure is what is checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import text_format

from gateway.services.health import READY_DEADLINE_S
from investiq.core.settings import Settings

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_and_profiles(compose: dict[str, Any]):
    services = compose["services"]
    assert set(services) == {"triton", "gateway", "prometheus", "grafana", "perf"}
    assert services["perf"]["profiles"] == ["perf"]
    assert services["perf"]["image"].endswith("-py3-sdk")
    assert "perf_analyzer.sh" in " ".join(services["perf"]["command"])
    assert (ROOT / "benchmarks" / "perf_analyzer.sh").is_file()


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Target -> source of a compose service's volumes, short ("src:target[:mode]") or long syntax."""
    targets = {}
    for volume in service["volumes"]:
        if isinstance(volume, dict):
            targets[volume["target"]] = volume["source"]
        else:
            short = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):([^:]+)(?::(ro|rw))?", volume)
            assert short, volume
            targets[short[2]] = short[1]
    return targets


def seconds(duration: str | int) -> int:
    """A compose duration ("1200s", "20m", "1m30s") in seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    assert parts and any(parts.groups()), duration
    hours, minutes, secs = (int(p or 0) for p in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def test_triton_reserves_every_gpu_and_reports_readiness(compose: dict[str, Any]):
    triton = compose["services"]["triton"]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "device_ids" not in device and device["count"] == "${TRITON_GPUS:-all}"  # any GPU count
    assert triton["healthcheck"]["test"] == ["CMD", "curl", "-f", "http://localhost:8000/v2/health/ready"]
    assert "--model-config-name=gpu" in triton["command"]
    assert "./model_repository:/models:ro" in triton["volumes"]
    assert (ROOT / triton["build"]["dockerfile"]).is_file()


def kube_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_tritonserver_start_keeps_readiness_to_the_server():
    """Strict readiness (Triton's default) answers 400 on /v2/health/ready while any model failed to load: one
    broken PatchTST would take FinBERT out of every Service and keep compose's gateway from starting. Every
    place that starts tritonserver turns it off: compose, both Kubernetes variants, and `investiq triton start`
    (investiq/ops/triton_server.py), which the systemd unit runs."""
    compose_triton = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["triton"]["command"]
    (deployment,) = [d for d in kube_documents(KUBE / "triton.yaml") if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (isvc,) = kube_documents(KUBE / "kserve" / "inferenceservice.yaml")
    starts = {
        "docker-compose.yml": compose_triton,
        "kubernetes/triton.yaml": container["args"],
        "kserve/inferenceservice.yaml": isvc["spec"]["predictor"]["model"]["args"],
    }
    assert compose_triton[0] == container["args"][0] == "tritonserver"
    for place, args in starts.items():
        assert "--strict-readiness=false" in args, place
    assert '"--strict-readiness=false",' in (ROOT / "investiq" / "ops" / "triton_server.py").read_text()
    unit = (ROOT / "deploy" / "systemd" / "investiq-triton.service").read_text()
    (start,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    assert start.split()[1:3] == ["triton", "start"]


def test_compose_waits_for_the_first_engine_build_as_long_as_kubernetes(compose: dict[str, Any]):
    """TensorRT builds the engines at the first start; Triton answers no health check until then. Compose must
    wait as long as the startupProbe does, or it marks Triton unhealthy and never starts the gateway."""
    (deployment,) = [d for d in kube_documents(KUBE / "triton.yaml") if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    probe = container["startupProbe"]
    check = compose["services"]["triton"]["healthcheck"]
    assert seconds(check["start_period"]) >= probe["periodSeconds"] * probe["failureThreshold"] >= 20 * 60


def test_perf_results_land_on_the_host(compose: dict[str, Any]):
    """perf_analyzer.sh writes to PERF_OUT: a host folder, not the `run --rm` container's layer. gpu.sh mounts
    its own folder with `-v`: at another target, so that the two never name one mount point."""
    perf = compose["services"]["perf"]
    out = perf["environment"]["PERF_OUT"]
    assert out in mounts(perf) and not mounts(perf)[out].startswith("/tmp")
    assert "${PERF_OUT:-" in (ROOT / "benchmarks" / "perf_analyzer.sh").read_text()
    gpu_sh = (ROOT / "benchmarks" / "gpu.sh").read_text()
    (gpu_target,) = re.findall(r'-e PERF_OUT=(\S+) -v "[^"]*:(\S+)" perf', gpu_sh)
    assert gpu_target[0] == gpu_target[1] != out


def test_tensorrt_engines_are_cached_on_a_named_volume(compose: dict[str, Any]):
    """The configs' trt_engine_cache_path is where compose mounts a named volume: engines survive restarts."""
    mounts = dict(v.split(":", 1)[::-1] for v in compose["services"]["triton"]["volumes"])
    paths = set()
    for model in ("finbert_model", "patchtst"):
        gpu = text_format.Parse(
            (ROOT / "model_repository" / model / "configs" / "gpu.pbtxt").read_text(),
            model_config_pb2.ModelConfig(),
        )
        (accelerator,) = gpu.optimization.execution_accelerators.gpu_execution_accelerator
        assert accelerator.parameters["trt_engine_cache_enable"] == "true"
        paths.add(accelerator.parameters["trt_engine_cache_path"])
    (path,) = paths
    assert not path.startswith("/tmp")
    assert mounts[path] in compose["volumes"]  # a named volume, not a bind mount or the container's layer
    triton = (ROOT / "deploy" / "kubernetes" / "triton.yaml").read_text()
    assert f"mountPath: {path}" in triton


def test_the_gateway_reports_its_health_to_compose(compose: dict[str, Any]):
    check = compose["services"]["gateway"]["healthcheck"]
    assert check["test"][0] == "CMD" and "http://127.0.0.1:8080/health/ready" in " ".join(check["test"])
    assert "curl" not in check["test"]  # python:3.11-slim has none
    assert check["start_period"] and check["retries"] >= 1
    # /health/ready bounds Triton's answers by READY_DEADLINE_S: the check's client waits longer than that (it
    # waited the backend's whole 5 s triton_timeout_s before), and compose longer than the client
    (wait,) = re.findall(r"timeout=(\d+(?:\.\d+)?)", " ".join(check["test"]))
    assert 2 * READY_DEADLINE_S <= float(wait) < seconds(check["timeout"])


def test_gateway_waits_for_triton_and_mounts_the_database_directory(compose: dict[str, Any]):
    gateway = compose["services"]["gateway"]
    assert gateway["depends_on"]["triton"]["condition"] == "service_healthy"
    env = gateway["environment"]
    assert env["INVESTIQ_BACKEND"] == "triton" and env["INVESTIQ_TRITON_URL"] == "triton:8001"
    db_dir = str(Path(env["INVESTIQ_DB_PATH"]).parent)
    targets = mounts(gateway)
    assert db_dir in targets  # the directory (WAL and shm files live beside the database), not the file
    assert not any(target.endswith(".db") for target in targets)
    assert re.fullmatch(r"\$\{ML_API_KEY:\?.+\}", env["ML_API_KEY"])  # required: fails fast when unset
    exposed = ("gateway", "triton", "prometheus")
    assert all(p.startswith("127.0.0.1:") for s in exposed for p in compose["services"][s]["ports"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "triton-client" in dockerfile and '"investiq", "serve"' in dockerfile


def container_ports(service: dict[str, Any]) -> set[int]:
    """The ports a compose service listens on inside the compose network ("127.0.0.1:8080:8080" -> 8080)."""
    return {int(str(mapping).rsplit(":", 1)[-1]) for mapping in service["ports"]}


def test_prometheus_scrapes_the_compose_services_at_their_settings_ports(compose: dict[str, Any]):
    prometheus = compose["services"]["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])  # pinned, never :latest
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert container_ports(prometheus) == {9090}
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    defaults = Settings.model_fields
    expected = {"gateway": defaults["port"].default, "triton": defaults["triton_metrics_port"].default}
    assert expected == {"gateway": 8080, "triton": 8002}
    assert set(jobs) == set(expected)
    dockerfile = (ROOT / "Dockerfile").read_text()  # the gateway listens at the port setting's default
    assert re.findall(r"^CMD .*$", dockerfile, re.M) == [
        'CMD ["investiq", "serve"]'
    ]  # no flag beats the environment
    assert not re.search(r"^ENV .*INVESTIQ_PORT=", dockerfile, re.M)
    assert "INVESTIQ_HOST=0.0.0.0" in dockerfile  # a setting, which the container's environment can change
    for name, port in expected.items():
        (static,) = jobs[name]["static_configs"]
        assert static["targets"] == [f"{name}:{port}"]  # compose service name: resolvable on its network
        assert port in container_ports(compose["services"][name])
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
    # The gateway's /metrics wants the API key: sent from the compose secret made of ML_API_KEY.
    (key_file,) = jobs["gateway"]["http_headers"]["X-API-Key"]["files"]
    (secret,) = prometheus["secrets"]
    assert key_file == f"/run/secrets/{secret}"
    assert compose["secrets"][secret] == {"environment": "ML_API_KEY"}


@pytest.mark.parametrize("model", ["finbert_model", "patchtst"])
def test_gpu_flavour_runs_on_every_visible_gpu_with_tensorrt_fp16(model: str):
    directory = ROOT / "model_repository" / model
    gpu = text_format.Parse((directory / "configs" / "gpu.pbtxt").read_text(), model_config_pb2.ModelConfig())
    cpu = text_format.Parse((directory / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    (group,) = gpu.instance_group  # no `gpus`: Triton places `count` instances on each GPU it sees
    assert model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind) == "KIND_GPU" and group.count >= 1
    assert list(group.gpus) == []
    (accelerator,) = gpu.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    assert gpu.dynamic_batching.max_queue_delay_microseconds > 0
    # Warm-up spans batch 1 .. max_batch_size, so TensorRT's shape range covers every batch from the start.
    assert {w.batch_size for w in gpu.model_warmup} >= {1, gpu.max_batch_size}
    same = ("name", "max_batch_size", "input", "output")
    for tensor in cpu.input:  # the cpu flavour's python step pads ragged batches itself; the gpu graph cannot
        tensor.ClearField("allow_ragged_batch")
    # The gpu flavour declares the sizes its graph fixes (ONNX Runtime's backend refuses -1 against them); the cpu
    # flavour's python step reads any (PatchTST's context, horizon and quantile count: -1)
    for ours, theirs in zip([*gpu.input, *gpu.output], [*cpu.input, *cpu.output], strict=True):
        assert len(ours.dims) == len(theirs.dims), ours.name
        assert all(c in (-1, g) for g, c in zip(ours.dims, theirs.dims, strict=True)), ours.name
        ours.dims[:] = theirs.dims
    assert [getattr(gpu, f) for f in same] == [getattr(cpu, f) for f in same]  # one contract, two flavours


def test_no_config_or_compose_file_names_gpu_ids():
    """Any GPU count: neither the Triton configs nor compose pin devices by index."""
    for path in [*(ROOT / "model_repository").glob("*/configs/*.pbtxt"), ROOT / "docker-compose.yml"]:
        text = path.read_text()
        assert not re.search(r"^\s*[^#\n]*\bgpus\s*:", text, re.M), path
        assert "device_ids" not in text, path


def test_finbert_warm_up_covers_every_length_the_tokenizer_can_send():
    """TensorRT's engine must span 1 token .. the longest input: the tokenizer's max_tokens and the setting's
    upper bound, both at most FinBERT's position limit (512). Warm-up at those corners builds it once."""
    from investiq.core.settings import Settings

    repo = ROOT / "model_repository"
    gpu = text_format.Parse((repo / "finbert_model/configs/gpu.pbtxt").read_text(), model_config_pb2.ModelConfig())
    tokenizer = text_format.Parse(
        (repo / "finbert_tokenizer/config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    lengths = set()
    for warm in gpu.model_warmup:
        (dims,) = {tuple(i.dims) for i in warm.inputs.values()}  # ids and mask alike
        (length,) = dims
        lengths.add(length)
    setting_cap = next(
        int(m.le) for m in Settings.model_fields["sentiment_max_tokens"].metadata if hasattr(m, "le")
    )
    assert min(lengths) == 1
    assert max(lengths) >= max(int(tokenizer.parameters["max_tokens"].string_value), setting_cap)
    assert max(lengths) == 512


def test_triton_truncates_texts_where_the_embedded_backend_does_by_default():
    """One default for the truncation (investiq.core.finbert.MAX_TOKENS): the Triton tokenizer step's parameter
    and the setting's default, which a review found written apart (128 both, nothing tying them)."""
    from investiq.core.finbert import MAX_TOKENS
    from investiq.core.settings import Settings

    tokenizer = text_format.Parse(
        (ROOT / "model_repository/finbert_tokenizer/config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert int(tokenizer.parameters["max_tokens"].string_value) == MAX_TOKENS
    assert Settings().sentiment_max_tokens == MAX_TOKENS


@pytest.fixture
def fake_gpus(tmp_path: Path) -> dict[str, str]:
    """An nvidia-smi listing one GPU and a docker that fails: gpu.sh gets past the GPU count, stops at Docker."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -L ]; then echo "GPU 0: NVIDIA H200 (UUID: GPU-0)"; exit 0; fi\n'
        'echo "index, name, driver_version, memory.total [MiB]"; echo "0, NVIDIA H200, 570.0, 143771 MiB"\n'
    )
    smi.chmod(0o755)
    docker = tmp_path / "docker"  # a host without Docker, whatever this one has
    docker.write_text("#!/bin/sh\nexit 1\n")
    docker.chmod(0o755)
    return {"PATH": f"{tmp_path}:/usr/bin:/bin", "NVIDIA_SMI": str(smi), "RESULTS": str(tmp_path / "results")}


def run_gpu_sh(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(ROOT / "benchmarks" / "gpu.sh")], env=env, capture_output=True, text=True, timeout=30
    )


def test_gpu_script_accepts_a_single_gpu(fake_gpus: dict[str, str]):
    done = run_gpu_sh(fake_gpus)
    assert done.returncode == 1
    assert "needs Docker" in done.stderr  # past the GPU check: one GPU is enough now


def test_gpu_script_refuses_more_gpus_than_the_host_has(fake_gpus: dict[str, str]):
    done = run_gpu_sh({**fake_gpus, "GPUS": "2"})
    assert done.returncode == 1 and "GPUS=2" in done.stderr


@pytest.mark.parametrize("key", [None, "the-operators-key"])
def test_gpu_script_starts_triton_whether_or_not_an_api_key_is_set(tmp_path: Path, key: str | None):
    """docker-compose.yml requires ML_API_KEY for the gateway (${ML_API_KEY:?...}) and compose interpolates every
    service, so `docker compose up -d triton` refused to start without it, though gpu.sh starts no gateway of
    compose's. A copy of gpu.sh in a checkout whose models are exported, a docker that records the key each
    compose command had (and fails `up`, so that the script ends there) and a python that has everything."""
    checkout = tmp_path / "checkout"
    (checkout / "benchmarks").mkdir(parents=True)
    (checkout / "benchmarks" / "gpu.sh").write_text((ROOT / "benchmarks" / "gpu.sh").read_text())
    for model in ("finbert_model", "patchtst"):
        (checkout / "model_repository" / model / "1").mkdir(parents=True)
        (checkout / "model_repository" / model / "1" / "artifact.json").write_text("{}")
    bin_dir, calls = tmp_path / "bin", tmp_path / "docker.calls"
    bin_dir.mkdir()
    fakes = {
        "nvidia-smi": 'if [ "$1" = -L ]; then echo "GPU 0: NVIDIA H200 (UUID: GPU-0)"; fi\n',
        "docker": f'[ "$2" = version ] && exit 0\necho "$*|${{ML_API_KEY-<unset>}}" >>{calls}\nexit 1\n',
        "python": "exit 0\n",
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(bin_dir / "python"), "RESULTS": str(tmp_path / "out")}
    env |= {"ML_API_KEY": key} if key is not None else {}
    done = subprocess.run(
        ["/bin/bash", str(checkout / "benchmarks" / "gpu.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0  # the fake `docker compose up` fails
    (up,) = calls.read_text().splitlines()
    command, _, seen = up.partition("|")
    assert command == "compose up -d triton"
    assert seen not in ("", "<unset>") and (key is None or seen == key)  # the operator's own key is left as it is


def test_the_gateway_image_runs_as_a_user_that_owns_its_data():
    """Not root; numeric (the kubelet checks runAsNonRoot only on a numeric user), uid 1000 like the pod's
    fsGroup; /data, where the journal and market data go, its own. Compose's bind mount of the journal's
    directory must exist already: Docker would make a missing one owned by root, unwritable to that user."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    *_, user = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)  # the last one is the one that runs
    uid, _, gid = user.partition(":")
    assert uid == gid == "1000"
    assert re.search(rf"^RUN useradd --uid {uid}\b", dockerfile, re.M)
    assert re.search(r"chown \S+ /data\b", dockerfile)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["gateway"]
    db_dir = str(Path(compose["environment"]["INVESTIQ_DB_PATH"]).parent)
    (journal,) = [v for v in compose["volumes"] if isinstance(v, dict) and v["target"] == db_dir]
    assert journal["type"] == "bind" and journal["bind"]["create_host_path"] is False


def test_images_install_the_tested_versions_and_copy_nothing_the_context_leaves_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (install,) = re.findall(r"^RUN pip install (.*)$", dockerfile, re.M)
    assert install.startswith("-c constraints.txt ")
    copied = [
        source
        for path in (ROOT / "Dockerfile", ROOT / "deploy" / "triton.Dockerfile")
        for line in re.findall(r"^COPY\s+(.*)$", path.read_text(), re.M)
        for source in line.split()[:-1]
    ]
    assert "constraints.txt" in copied
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [s for s in map(str.strip, lines) if s and not s.startswith("#")]
    assert not any(p.startswith("!") for p in ignored)  # only exclusions: what follows would miss re-inclusions
    for path in [*copied, "investiq/data/finance_lexicon.txt"]:  # the lexicon: package data, beside data/
        assert not dockerignored(path, ignored), path
    for path in (".venv/bin/python", ".git/HEAD", "models/patchtst/model.pt", "data/portfolio.db", ".env"):
        assert dockerignored(path, ignored), path


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore matching: patterns from the context's root, `**` any depth, `*` within a name;
    a directory's pattern covers what is under it."""

    def regex(pattern: str) -> str:
        parts = re.split(r"(\*\*/?|\*|\?|\[[^]]*\])", pattern.strip("/"))
        out = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        return "".join(out.get(p, p if p.startswith("[") and p.endswith("]") else re.escape(p)) for p in parts)

    prefixes = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    return any(re.fullmatch(regex(p), prefix) for p in patterns for prefix in prefixes)


CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "BUILDKITE")


def ort_telemetry_line(**env: str) -> str:
    """What importing ONNX Runtime and opening a session prints about telemetry, as a service user whose home
    folder cannot be written: it says it could not persist its device ID where its telemetry is on. ONNX Runtime
    turns its telemetry off by itself where a CI variable is set: they are left out."""
    outside_ci = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES and k != "ORT_DISABLE_TELEMETRY"}
    script = "import onnxruntime as ort; ort.get_available_providers()"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**outside_ci, "HOME": "/proc/no-home", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return "\n".join(line for line in (done.stdout + done.stderr).splitlines() if "telemetry" in line.lower())


def test_onnx_runtime_telemetry_is_off_in_the_image_and_the_units_and_by_the_variable_they_set():
    """ONNX Runtime 1.29+ sends telemetry to Microsoft when a process starts it, and warns where the home folder
    cannot be written (a systemd user's): the image and the units set ORT_DISABLE_TELEMETRY=1, which it obeys."""
    ort = pytest.importorskip("onnxruntime")
    assert re.search(r"^ENV ORT_DISABLE_TELEMETRY=1$", (ROOT / "Dockerfile").read_text(), re.M)
    for unit in ("investiq-gateway.service", "investiq-retrain.service", "investiq-triton.service"):
        text = (ROOT / "deploy" / "systemd" / unit).read_text()
        assert re.search(r"^Environment=ORT_DISABLE_TELEMETRY=1$", text, re.M), unit
    assert "export ORT_DISABLE_TELEMETRY=1" in (ROOT / "scripts" / "up.sh").read_text()  # told, not decided
    assert ort_telemetry_line(ORT_DISABLE_TELEMETRY="1") == ""
    if tuple(int(part) for part in ort.__version__.split(".")[:2]) >= (1, 29):  # it has telemetry on Linux
        assert "telemetry" in ort_telemetry_line()  # the check above would pass if the variable changed name
