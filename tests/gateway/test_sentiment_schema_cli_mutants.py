"""Kill tests of a mutation audit of gateway/schemas/sentiment.py (the /sentiment schemas and `response_json`) and
investiq/cli/sentiment.py (`investiq evaluate finbert`): each docstring names the mutant(s) it fails with,
"file:function: X -> Y (what went unseen)"."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError

from gateway.schemas.sentiment import SentimentPrediction, SentimentResponse, response_json
from investiq.cli.main import main
from investiq.core.settings import Settings
from investiq.ops import sentiment_eval

# -- gateway/schemas/sentiment.py ---------------------------------------------------------------------------------

PREDICTION: dict[str, Any] = {
    "label": "negative",
    "confidence": 0.75,
    "score": -0.5,
    "probabilities": {"positive": 0.125, "negative": 0.75, "neutral": 0.125},
    "cached": True,
}


def test_the_written_answer_is_byte_for_byte_what_pydantic_writes_utf8_included() -> None:
    """sentiment.py:response_json, `ensure_ascii=False` made True (a model version outside ASCII written as \\u
    escapes: not the UTF-8 bytes pydantic writes, which the function stands in for)."""
    version = "lexique-été-2026"
    written = response_json([PREDICTION], "lexicon", version, 12.5)
    model = SentimentResponse(
        predictions=[PREDICTION], model="lexicon", model_version=version, processing_time_ms=12.5
    )
    assert written == model.model_dump_json().encode()
    assert version.encode() in written


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_duration_that_is_no_finite_number_is_refused_not_written_as_invalid_json(bad: float) -> None:
    """sentiment.py:response_json, `allow_nan=False` made True (NaN or Infinity written into the answer: no JSON
    that a client's strict parser reads; refused, it is a 500 the gateway logs)."""
    with pytest.raises(ValueError, match="JSON compliant"):
        response_json([PREDICTION], "finbert", "v1-int8", bad)


def test_the_probabilities_are_keyed_by_the_three_labels_alone() -> None:
    """sentiment.py:SentimentPrediction, `probabilities: dict[Label, float]` made `dict[str, float]` (the API
    document no longer named the keys, and an answer with another label validated)."""
    schema = SentimentPrediction.model_json_schema()["properties"]["probabilities"]
    assert schema["propertyNames"] == {"enum": ["positive", "negative", "neutral"]}
    with pytest.raises(ValidationError, match="probabilities"):
        SentimentPrediction.model_validate({**PREDICTION, "probabilities": {"bullish": 1.0}})


# -- investiq/cli/sentiment.py ------------------------------------------------------------------------------------


class Judged:
    """sentiment_eval.evaluate_sentiment replaced: each call's settings, csv, out and held_out, and a log line."""

    def __init__(self) -> None:
        self.calls: list[tuple[Settings, Path | None, Path, frozenset[str]]] = []

    def __call__(
        self, settings: Settings, csv_path: Path | None, out: Path, *, log: Any, held_out: frozenset[str]
    ) -> dict[str, Any]:
        self.calls.append((settings, csv_path, out, held_out))
        log("judged 0 texts")
        return {}


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> Judged:
    fake = Judged()
    monkeypatch.setattr(sentiment_eval, "evaluate_sentiment", fake)
    return fake


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A settings file: models under tmp_path/models, the fp32 variant."""
    path = tmp_path / "config.yaml"
    path.write_text(f"models_dir: {tmp_path / 'models'}\nquantize: false\n")
    return path


def evaluate(*args: str) -> Result:
    """`investiq evaluate finbert ARGS`, with no INVESTIQ_* variable that the settings file would lose to."""
    unset: dict[str, str | None] = {
        "INVESTIQ_CONFIG": None,
        "INVESTIQ_MODELS_DIR": None,
        "INVESTIQ_QUANTIZE": None,
        "INVESTIQ_MODEL_REPOSITORY": None,
    }
    return CliRunner().invoke(main, ["evaluate", "finbert", *args], env=unset)


def test_without_out_the_report_goes_to_the_settings_models_dir(
    tmp_path: Path, config: Path, judged: Judged
) -> None:
    """cli/sentiment.py:evaluate_finbert, the default folder renamed (MODELS_DIR/sentiment-evaluation, which --help
    promises), or `--config` not passed to the settings (the file's models_dir ignored); and the log lines not
    echoed (`log=click.echo` dropped)."""
    result = evaluate("--config", str(config))
    assert result.exit_code == 0, result.output
    [(settings, csv_path, out, held_out)] = judged.calls
    assert out == tmp_path / "models" / "sentiment-evaluation" and settings.models_dir == tmp_path / "models"
    assert (csv_path, held_out) == (None, frozenset())
    assert result.output == "judged 0 texts\n"


def test_without_a_quantize_flag_the_settings_variant_is_judged(
    tmp_path: Path, config: Path, judged: Judged
) -> None:
    """cli/sentiment.py:evaluate_finbert, `--quantize/--no-quantize` defaulting to True instead of None (the
    setting quantize: false overridden: the INT8 variant judged where the gateway serves fp32); and --quantize,
    --repository or --out not passed on."""
    for flags, want in (((), False), (("--quantize",), True), (("--no-quantize",), False)):
        result = evaluate("--config", str(config), "--out", str(tmp_path / "r"), "--repository", "repo", *flags)
        assert result.exit_code == 0, result.output
        settings, _, out, _ = judged.calls[-1]
        assert (settings.quantize, settings.model_repository, out) == (want, Path("repo"), tmp_path / "r"), flags


@pytest.mark.parametrize(
    ("given", "parts"),
    [
        ("fresh8,fresh10", {"fresh8", "fresh10"}),
        (" fresh8 , fresh10 ", {"fresh8", "fresh10"}),
        ("fresh8,,fresh10,", {"fresh8", "fresh10"}),
        (" , ", set()),
    ],
)
def test_held_out_splits_are_comma_separated_trimmed_and_never_empty(
    tmp_path: Path, config: Path, judged: Judged, given: str, parts: set[str]
) -> None:
    """cli/sentiment.py:evaluate_finbert, --held-out split on white space instead of commas (fresh8,fresh10 one
    split, refused as unknown), its parts not stripped (" fresh10" named no split), or empty parts kept (a
    trailing comma held out a split named "", refused)."""
    result = evaluate("--config", str(config), "--out", str(tmp_path / "r"), "--held-out", given)
    assert result.exit_code == 0, result.output
    assert judged.calls[-1][3] == frozenset(parts)


def test_out_naming_a_file_is_a_usage_error_before_anything_is_judged(
    tmp_path: Path, config: Path, judged: Judged
) -> None:
    """cli/sentiment.py:evaluate_finbert, --out's `file_okay=False` dropped (a report folder over an existing file:
    every text scored, then the write failed, or the file replaced)."""
    taken = tmp_path / "notes.txt"
    taken.write_text("mine\n")
    result = evaluate("--config", str(config), "--out", str(taken))
    assert result.exit_code == 2 and "is a file" in result.output, result.output
    assert judged.calls == [] and taken.read_text() == "mine\n"
