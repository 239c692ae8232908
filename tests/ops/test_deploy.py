"""Deployment files: no Docker engine runs here, so their structure is what is checked."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import text_format

from investiq.core.settings import Settings

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
ROOT = Path(__file__).resolve().parents[2]


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


def test_triton_reserves_every_gpu_and_reports_readiness(compose: dict[str, Any]):
    triton = compose["services"]["triton"]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "device_ids" not in device and device["count"] == "${TRITON_GPUS:-all}"  # any GPU count
    assert triton["healthcheck"]["test"] == ["CMD", "curl", "-f", "http://localhost:8000/v2/health/ready"]
    assert "--model-config-name=gpu" in triton["command"]
    assert "./model_repository:/models:ro" in triton["volumes"]
    assert (ROOT / triton["build"]["dockerfile"]).is_file()


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


def test_gateway_waits_for_triton_and_mounts_the_database_directory(compose: dict[str, Any]):
    gateway = compose["services"]["gateway"]
    assert gateway["depends_on"]["triton"]["condition"] == "service_healthy"
    env = gateway["environment"]
    assert env["INVESTIQ_BACKEND"] == "triton" and env["INVESTIQ_TRITON_URL"] == "triton:8001"
    db_dir = str(Path(env["INVESTIQ_DB_PATH"]).parent)
    mounts = {v.split(":")[-1]: v for v in gateway["volumes"]}
    assert db_dir in mounts  # the directory (WAL and shm files live beside the database), not the file
    assert not any(target.endswith(".db") for target in mounts)
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
    assert f'"--port", "{expected["gateway"]}"' in (ROOT / "Dockerfile").read_text()  # where the gateway listens
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
