"""Benchmarks prepare their models in a child interpreter: its refusal is one line in the parent, not two
tracebacks (`investiq bench finbert --source ProsusAI/finbert` offline printed the child's and the parent's)."""

from __future__ import annotations

import subprocess

import pytest

from harness.processes import in_child
from investiq.core.errors import InvestIQError


def test_a_childs_refusal_is_raised_with_its_message_and_a_bug_stays_a_failure():
    in_child("pass")
    with pytest.raises(InvestIQError, match=r"^cannot load: no weights$"):
        in_child("from investiq.core.errors import ArtifactError; raise ArtifactError('cannot load: no weights')")
    with pytest.raises(subprocess.CalledProcessError):
        in_child("raise ValueError('a bug')")
