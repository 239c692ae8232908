"""Fixtures of the export tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import tiny_bert


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny BERT (harness/tiny_bert.py) and the model repository `investiq export finbert` made of it:
    (its Hugging Face directory, the repository); one per test module, which may change its copy."""
    return tiny_bert.exported(tmp_path_factory.mktemp("finbert-export"))
