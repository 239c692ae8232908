"""Deployment files: no Docker engine runs here, so their structure is what is checked."""

from __future__ import annotations

import re
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
    assert set(services) == {"triton", "gateway", "prometheus", "perf"}
    assert services["perf"]["profiles"] == ["perf"]
    assert services["perf"]["image"].endswith("-py3-sdk")
    assert "perf_analyzer.sh" in " ".join(services["perf"]["command"])
    assert (ROOT / "benchmarks" / "perf_analyzer.sh").is_file()


def test_triton_reserves_both_gpus_and_reports_readiness(compose: dict[str, Any]):
    triton = compose["services"]["triton"]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert (
        device["driver"] == "nvidia" and device["device_ids"] == ["0", "1"] and device["capabilities"] == ["gpu"]
    )
    assert triton["healthcheck"]["test"] == ["CMD", "curl", "-f", "http://localhost:8000/v2/health/ready"]
    assert "--model-config-name=gpu" in triton["command"]
    assert "./model_repository:/models:ro" in triton["volumes"]
    assert (ROOT / triton["build"]["dockerfile"]).is_file()


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
def test_gpu_flavour_pins_instances_to_both_gpus_with_tensorrt_fp16(model: str):
    directory = ROOT / "model_repository" / model
    gpu = text_format.Parse((directory / "configs" / "gpu.pbtxt").read_text(), model_config_pb2.ModelConfig())
    cpu = text_format.Parse((directory / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert [list(g.gpus) for g in gpu.instance_group] == [[0], [1]]
    (accelerator,) = gpu.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    assert gpu.dynamic_batching.max_queue_delay_microseconds > 0
    assert len(gpu.model_warmup) == 1
    same = ("name", "max_batch_size", "input", "output")
    assert [getattr(gpu, f) for f in same] == [getattr(cpu, f) for f in same]  # one contract, two flavours
