"""A logs_dir the gateway cannot write: the container's user (uid 1000) in a root-owned /app, where logs_dir's
default `logs` is relative to the working directory. `investiq serve` died at start on the PermissionError of
its serving record (serving.serving_record), and the container restarted in a loop. The record only lets other
commands find a gateway on a port their settings do not name: the gateway serves without it, and says so."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harness.processes import GatewayProcess, isolated_env
from investiq.core.settings import Settings
from investiq.ops.serving import serving_gateways, serving_record

ROOT = Path(__file__).resolve().parents[2]


def unwritable(tmp_path: Path) -> Path:
    """A logs_dir that cannot be made, even by root (these tests may run as root): its parent is a file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    return blocker / "logs"


def test_a_serving_record_that_cannot_be_written_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    settings = Settings(db_path=tmp_path / "p.db", logs_dir=unwritable(tmp_path), port=8093)
    with caplog.at_level(logging.WARNING, logger="investiq.ops.serving"), serving_record(settings):
        served = True
    assert served
    (warning,) = [r.getMessage() for r in caplog.records]
    assert str(settings.logs_dir) in warning and "INVESTIQ_LOGS_DIR" in warning and "logs_dir" in warning
    assert serving_gateways(settings) == []


def test_the_record_is_written_and_removed_where_logs_dir_is_writable(tmp_path: Path):
    settings = Settings(db_path=tmp_path / "p.db", logs_dir=tmp_path / "logs", port=8093)
    with serving_record(settings):
        assert (tmp_path / "logs" / "gateway-8093.serving.json").is_file()
    assert not (tmp_path / "logs" / "gateway-8093.serving.json").exists()


def test_serve_starts_and_answers_with_an_unwritable_logs_dir(tmp_path: Path):
    """The real `investiq serve`, as the image runs it: it answers, and its log names the path and the setting."""
    logs_dir = unwritable(tmp_path)
    (tmp_path / "none.yaml").write_text("")  # an empty settings file: only the variables below
    env = isolated_env(
        INVESTIQ_LOGS_DIR=str(logs_dir),
        INVESTIQ_MODEL_REPOSITORY=str(tmp_path / "repo"),
        INVESTIQ_DATA_DIR=str(tmp_path / "data"),
        INVESTIQ_PRICE_RESOLVE_EVERY_S="0",
        INVESTIQ_CONFIG=str(tmp_path / "none.yaml"),
    )
    log = tmp_path / "server.log"
    with GatewayProcess(tmp_path / "p.db", log, env=env) as gateway:
        gateway.start(60)
        assert gateway.get("/health/live").status_code == 200
    text = log.read_text()
    assert str(logs_dir) in text and "INVESTIQ_LOGS_DIR" in text, text[-2000:]


@pytest.fixture
def dockerfile_env() -> Callable[[], dict[str, str]]:
    def read() -> dict[str, str]:
        """The ENV of the gateway's Dockerfile (KEY=VALUE pairs, one or several per line)."""
        pairs: dict[str, str] = {}
        for line in re.findall(r"^ENV\s+(.*)$", (ROOT / "Dockerfile").read_text(), re.M):
            pairs |= dict(p.split("=", 1) for p in line.split())
        return pairs

    return read


def test_the_image_points_logs_dir_at_a_directory_its_user_owns(dockerfile_env: Callable[[], dict[str, str]]):
    """The image runs as uid 1000 in a root-owned WORKDIR: logs_dir must name a directory made for that user."""
    assert "logs_dir" in Settings.model_fields  # INVESTIQ_LOGS_DIR is the setting's variable (settings.py)
    logs = dockerfile_env()["INVESTIQ_LOGS_DIR"]
    assert os.path.isabs(logs)
    dockerfile = re.sub(r"\\\n\s*", "", (ROOT / "Dockerfile").read_text())  # continued lines joined
    owned = re.search(r"^RUN useradd .*&& mkdir (?:-p )?(.+?) && chown investiq:investiq (.+)$", dockerfile, re.M)
    assert owned, "the user's directories are made and owned in one RUN"
    assert logs in owned[1].split() and logs in owned[2].split()
    assert dockerfile.index(owned[0]) < dockerfile.index("USER 1000")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["gateway"]
    # compose and the Kubernetes manifests keep the image's logs_dir (or name a writable one of their own)
    assert compose["environment"].get("INVESTIQ_LOGS_DIR", logs) == logs
    manifests = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "base" / "gateway.yaml").read_text())
    (gateway,) = [m for m in manifests if m["kind"] == "Deployment"]
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert "INVESTIQ_LOGS_DIR" not in {e["name"] for e in container["env"]}
