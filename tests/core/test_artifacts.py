"""Reading an artifact's record (investiq/core/artifacts.py `load_meta`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from investiq.core.artifacts import load_meta
from investiq.core.errors import ArtifactError


@dataclass(frozen=True)
class Record:
    version: str
    horizon: int = 12


def test_a_record_from_a_newer_release_is_named_as_such_not_corrupt(tmp_path: Path):
    """After a user went back to an older release, an export of the newer one was 'corrupt (unexpected keyword
    argument ...)' with the advice to train again (an audit of upgrades)."""
    (tmp_path / "artifact.json").write_text(
        json.dumps({"version": "abc", "horizon": 12, "files": {}, "centred": 1})
    )
    with pytest.raises(
        ArtifactError,
        match=r"written by a newer InvestIQ \(fields this one does not know: centred, "
        r"files\): upgrade InvestIQ to that release, or make the artifact with this one: export it",
    ):
        load_meta(Record, tmp_path, "export it")
    (tmp_path / "artifact.json").write_text(json.dumps({"horizon": 12}))
    with pytest.raises(ArtifactError, match="is corrupt"):  # a field missing is what it was
        load_meta(Record, tmp_path, "export it")
    (tmp_path / "artifact.json").write_text(json.dumps({"version": "abc"}))
    assert load_meta(Record, tmp_path, "export it") == Record("abc")
    # another kind of artifact (a PatchTST's where FinBERT's belongs) is not "newer": its own fields are missing
    (tmp_path / "artifact.json").write_text(json.dumps({"context_length": 512, "centred": 1}))
    with pytest.raises(ArtifactError, match=r"is corrupt \(Record"):
        load_meta(Record, tmp_path, "export it")
