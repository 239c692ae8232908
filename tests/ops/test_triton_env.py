"""Which tritonserver `investiq triton start` runs: the one of the `triton_env` setting, else the checkout's
.venv-triton (scripts/test.sh makes it: the pip tritonserver needs numpy<2), else this environment's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from investiq.ops.triton_server import CHECKOUT_ENV, TritonError, backend_directory, find_server, server_env


def fake_env(root: Path, python: str = "3.11") -> Path:
    """The layout of a virtual environment holding nvidia-pytriton, without its files."""
    (root / "lib" / f"python{python}" / "site-packages" / "pytriton" / "tritonserver").mkdir(parents=True)
    return root


def test_the_setting_comes_first_then_the_checkout_env_then_this_one(tmp_path: Path) -> None:
    assert server_env(tmp_path) == tmp_path
    assert server_env() == (CHECKOUT_ENV if CHECKOUT_ENV.is_dir() else Path(sys.prefix))


def test_a_server_is_found_with_its_environment_s_python(tmp_path: Path) -> None:
    env = fake_env(tmp_path / "venv", "3.12")
    server = find_server(env)
    assert server.env == env
    assert server.root == env / "lib" / "python3.12" / "site-packages" / "pytriton" / "tritonserver"
    assert server.python == "3.12"  # the stub must match the environment's Python, not this process's


def test_an_environment_without_it_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(
        TritonError, match=r"no tritonserver in .*bash scripts/test.sh.*pip install -e '\.\[triton\]'"
    ):
        find_server(tmp_path)


def test_a_python_without_a_stub_is_refused_by_name(tmp_path: Path) -> None:
    server = find_server(fake_env(tmp_path / "venv", "3.99"))
    with pytest.raises(TritonError, match=r"no python backend stub for Python 3\.99"):
        backend_directory(tmp_path / "work", server)
