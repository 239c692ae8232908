"""Settings' bounds and readings as documented, and the Triton python-backend models answering each request of a
batch on its own (their execute steps, run here with a stand-in for Triton's python-backend module)."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from pydantic import ValidationError

from gateway.backends.embedded import patchtst_dir
from harness.tiny_repository import as_exported
from investiq.core.cpu import instruction_sets
from investiq.core.errors import ArtifactError, SettingsError
from investiq.core.finbert import ATTENTION_MASK, FINBERT_MODEL, INPUT_IDS, PROBABILITIES, TEXT_INPUT
from investiq.core.finbert import OUTPUT as LOGITS
from investiq.core.patchtst import INPUT as PAST
from investiq.core.patchtst import ONNX_FILE, OUTPUTS, PATCHTST, PatchTSTMeta
from investiq.core.patchtst_runtime import FUSED_ONNX_FILE, PORTABLE, SPLIT_FILES, choose_runtime
from investiq.core.settings import Settings
from investiq.core.settings_load import load_settings
from investiq.core.triton_adapters import (
    THREADS,
    FinbertModel,
    FinbertPostprocess,
    FinbertTokenizer,
    PatchTST,
    shim,
    threads_per_instance,
)


def refused(env: dict[str, str]) -> str:
    """The message load_settings gives for these variables (no config file)."""
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"INVESTIQ_CONFIG": "", **env})
    return str(info.value)


def loaded(env: dict[str, str]) -> Settings:
    return load_settings(environ={"INVESTIQ_CONFIG": "", **env})


# -- settings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("PORT", "0", "65536"),
        ("MAX_BODY_BYTES", "1023", None),
        ("SENTIMENT_BATCH_SIZE", "0", "65"),
        ("DB_BUSY_TIMEOUT_MS", "-1", "600001"),
        ("HTTP_HEADER_TIMEOUT_S", "0", "3601"),
        ("BAYES_MAX_SYNC_DAYS", "0", "99999999"),
    ],
)
def test_a_number_just_outside_its_documented_range_is_refused_and_its_edges_are_taken(
    name: str, low: str, high: str | None
):
    """settings.py Settings fields: port ge=1 -> ge=0 / le=65535 -> le=65536, max_body_bytes ge=1024 -> ge=1,
    sentiment_batch_size le=64 -> le=65, db_busy_timeout_ms le=600_000 dropped, http_header_timeout_s gt=0 ->
    ge=0, bayes_max_sync_days le=CENTURY_DAYS dropped."""
    field = Settings.model_fields[name.lower()]
    bounds = {type(m).__name__: m for m in field.metadata}
    assert f"invalid setting {name.lower()}={low!r}" in refused({f"INVESTIQ_{name}": low})
    if high is not None:
        assert f"invalid setting {name.lower()}={high!r}" in refused({f"INVESTIQ_{name}": high})
    if "Ge" in bounds:
        assert getattr(loaded({f"INVESTIQ_{name}": str(bounds["Ge"].ge)}), name.lower()) == bounds["Ge"].ge
    if "Le" in bounds:
        assert getattr(loaded({f"INVESTIQ_{name}": str(bounds["Le"].le)}), name.lower()) == bounds["Le"].le


def test_the_port_edges_are_served():
    """settings.py Settings.port: ge=1 -> ge=0 and le=65535 -> le=65536 (the edges 1 and 65535 still taken)."""
    assert loaded({"INVESTIQ_PORT": "1"}).port == 1 and loaded({"INVESTIQ_PORT": "65535"}).port == 65535


def test_a_yes_no_is_refused_for_a_number_of_any_kind(tmp_path: Path):
    """settings.py _numeric: `annotation in (int, float)` -> `(int,)`, and _no_yes_no_numbers `_numeric(...)` ->
    `annotation is int`: `rate_limit_per_minute: true` was taken as 1 request a minute."""
    config = tmp_path / "config.yaml"
    config.write_text("rate_limit_per_minute: true\n")
    with pytest.raises(SettingsError, match="true is a yes/no, and this setting is a number"):
        load_settings(config, environ={})


def test_lists_read_from_json_with_leading_space_or_separated_by_spaces():
    """settings.py _symbols: `value.strip().startswith("[")` -> `value.startswith("[")` (a JSON list after a
    space became the symbols '["SPY",' ...), `value.replace(",", " ").split()` -> `value.split(",")` (space-
    separated symbols became one)."""
    assert loaded({"INVESTIQ_PRICE_SYMBOLS": ' ["spy", "qqq"]'}).price_symbols == ["SPY", "QQQ"]
    assert loaded({"INVESTIQ_PRICE_SYMBOLS": "SPY QQQ"}).price_symbols == ["SPY", "QQQ"]
    assert loaded({"INVESTIQ_SKILL_WINDOWS_DAYS": "7 30"}).skill_windows_days == [7, 30]


def test_a_list_variable_that_is_broken_json_says_how_to_write_a_list():
    """settings.py _symbols: the JSONDecodeError's `raise ValueError('a list: ...')` -> `return value`."""
    message = refused({"INVESTIQ_PRICE_SYMBOLS": '["SPY", "QQQ"'})
    assert "price_symbols=" in message and 'a list: comma-separated (SPY,QQQ) or JSON (["SPY", "QQQ"])' in message


def test_allowed_hosts_read_from_a_variable_as_a_list():
    """settings.py _symbols: "allowed_hosts" dropped from the list validator (a comma-separated variable was
    refused as not a list)."""
    assert loaded({"INVESTIQ_ALLOWED_HOSTS": "proxy.local, box.lan"}).allowed_hosts == ["proxy.local", "box.lan"]


def test_the_host_is_taken_without_its_surrounding_spaces():
    """settings.py _host: `value.strip() if ...` -> `value` (" 0.0.0.0 " reached uvicorn)."""
    assert loaded({"INVESTIQ_HOST": " 0.0.0.0 "}).host == "0.0.0.0"


def test_a_path_of_only_spaces_is_refused_as_empty():
    """settings.py _path: `str(value).strip()` -> `str(value)` (a path of spaces was taken)."""
    assert "invalid setting db_path='  ' (from environment INVESTIQ_DB_PATH): Value error, empty" in refused(
        {"INVESTIQ_DB_PATH": "  "}
    )


@pytest.mark.parametrize("key", ["logs_dir", "data_dir", "models_dir", "triton_env"])
def test_every_directory_setting_that_names_a_file_is_refused(tmp_path: Path, key: str):
    """settings.py DIRECTORIES: "logs_dir" (or another) dropped: a file given as a directory failed later."""
    (tmp_path / "afile").write_text("")
    message = refused({f"INVESTIQ_{key.upper()}": str(tmp_path / "afile")})
    assert f"invalid setting {key}=" in message and "is a file: give a directory" in message


def test_the_csv_of_bars_has_its_home_expanded():
    """settings.py PATHS: "price_csv" dropped (a literal ./~/bars.csv was read)."""
    assert loaded({"INVESTIQ_PRICE_CSV": "~/bars.csv"}).price_csv == Path.home() / "bars.csv"


@pytest.mark.parametrize("url", ["127.0.0.1:0", "[::1]:65536", "triton:0"])
def test_a_triton_port_outside_1_to_65535_is_refused(url: str):
    """settings.py _triton_url: `1 <= int(port)` -> `0 <= int(port)`."""
    assert "must be host:port" in refused({"INVESTIQ_TRITON_URL": url})


def test_a_triton_address_on_the_last_port_or_with_spaces_is_taken_as_written():
    """settings.py _triton_url: `<= 65535` -> `< 65535`; `target = value.strip()` -> `value` (the spaces reached
    gRPC's channel)."""
    assert loaded({"INVESTIQ_TRITON_URL": "triton:65535"}).triton_url == "triton:65535"
    assert loaded({"INVESTIQ_TRITON_URL": " 10.0.0.2:8001 "}).triton_url == "10.0.0.2:8001"


def test_api_key_env_must_be_a_variable_name_from_its_first_character():
    """settings.py _variable_name: `[A-Za-z_][A-Za-z0-9_]*` -> `[A-Za-z0-9_]+` (a name no shell can set)."""
    assert "must name an environment variable" in refused({"INVESTIQ_API_KEY_ENV": "9KEY"})
    assert loaded({"INVESTIQ_API_KEY_ENV": "_AGENT_KEY9"}).api_key_env == "_AGENT_KEY9"


def test_an_infinite_rate_limit_is_refused():
    """settings.py _finite: "rate_limit_per_minute" dropped from the finite fields."""
    assert "rate_limit_per_minute='inf'" in refused({"INVESTIQ_RATE_LIMIT_PER_MINUTE": "inf"})
    assert "must be a finite number" in refused({"INVESTIQ_RATE_LIMIT_PER_MINUTE": "inf"})


def test_a_weight_floor_equal_to_the_cap_is_taken_and_a_floor_of_one_is_not():
    """settings.py _consistent: `floor > cap` -> `floor >= cap`; bayes_weight_floor lt=1 -> le=1."""
    settings = loaded({"INVESTIQ_BAYES_WEIGHT_FLOOR": "0.4", "INVESTIQ_BAYES_WEIGHT_CAP": "0.4"})
    assert settings.bayes_weight_floor == settings.bayes_weight_cap == 0.4
    message = refused({"INVESTIQ_BAYES_WEIGHT_FLOOR": "1", "INVESTIQ_BAYES_WEIGHT_CAP": "1"})
    assert "invalid setting bayes_weight_floor='1'" in message


def test_the_api_key_is_never_read_from_an_investiq_variable():
    """settings_load.py load_settings: `key != "api_key" and name in env` -> `name in env` (INVESTIQ_API_KEY set
    the key, where only the variable that api_key_env names may)."""
    assert loaded({"INVESTIQ_API_KEY": "from-the-wrong-variable"}).api_key is None


def test_only_investiq_variables_are_warned_about(caplog: pytest.LogCaptureFixture):
    """settings_load.py _warn_unknown_environment: `n.startswith(ENV_PREFIX)` dropped (every variable of the
    environment, PATH's too, was named as a misspelt setting)."""
    with caplog.at_level(logging.WARNING, logger="investiq.core.settings_load"):
        loaded({"PATH": "/usr/bin", "HOME": "/home/x", "ML_API_KEY": "k"})
    assert "is not a setting" not in caplog.text


def test_a_misspelt_variable_is_named_with_the_setting_meant_at_one_letter_off(caplog: pytest.LogCaptureFixture):
    """settings_load.py _warn_unknown_environment: cutoff 0.8 -> 0.95 (no suggestion for a one-letter slip)."""
    with caplog.at_level(logging.WARNING, logger="investiq.core.settings_load"):
        loaded({"INVESTIQ_HOTS": "0.0.0.0"})
    assert "INVESTIQ_HOTS is not a setting and is ignored: did you mean INVESTIQ_HOST?" in caplog.text


def test_an_unknown_key_far_from_every_setting_gets_no_suggestion(tmp_path: Path):
    """settings_load.py _describe: the unknown setting's cutoff 0.7 -> 0.3 (a far name got a wrong suggestion)."""
    config = tmp_path / "config.yaml"
    config.write_text("colour: blue\n")
    with pytest.raises(SettingsError) as info:
        load_settings(config, environ={})
    assert "unknown setting 'colour'" in str(info.value) and "did you mean" not in str(info.value)


def test_an_empty_investiq_config_reads_no_file_not_even_the_one_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """settings_load.py load_settings: `Path(named) if named is not None` -> `if named` (INVESTIQ_CONFIG="" read
    ./config.yaml after all)."""
    (tmp_path / "config.yaml").write_text("port: 9000\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).port == 9000
    assert load_settings(environ={"INVESTIQ_CONFIG": ""}).port == 8080


def test_settings_cannot_be_changed_once_loaded():
    """settings.py Settings.model_config: frozen=True -> False (one object is passed down the whole stack)."""
    settings = loaded({})
    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_a_skill_window_of_no_days_and_an_empty_symbol_list_are_refused():
    """settings.py Settings: skill_windows_days' items ge=1 -> ge=0; price_symbols min_length=1 -> 0."""
    assert "skill_windows_days=" in refused({"INVESTIQ_SKILL_WINDOWS_DAYS": "0,30"})
    assert "price_symbols=" in refused({"INVESTIQ_PRICE_SYMBOLS": " , "})


def test_an_error_between_settings_names_only_the_settings_given():
    """settings_load.py _describe: `key in error["msg"] and key in origin` -> `key in error["msg"]` (a KeyError in
    place of the message, for a setting left at its default)."""
    message = refused({"INVESTIQ_BAYES_WEIGHT_FLOOR": "0.9"})
    assert message.startswith(
        "invalid settings: Value error, bayes_weight_floor=0.9 is above bayes_weight_cap=0.6"
    )
    assert "bayes_weight_floor from environment INVESTIQ_BAYES_WEIGHT_FLOOR" in message
    assert "bayes_weight_cap from" not in message


# -- Triton's python-backend models ------------------------------------------------------------------------------

STUB = "triton_python_backend_utils"


class Tensor:
    """pb_utils.Tensor as the models use it: a name and an array."""

    def __init__(self, name: str, array: Any) -> None:
        self.name, self.array = name, np.asarray(array)

    def as_numpy(self) -> Any:
        return self.array


class TritonError:
    def __init__(self, message: str) -> None:
        self.message = message


class InferenceResponse:
    def __init__(self, output_tensors: list[Tensor], error: TritonError | None = None) -> None:
        self.outputs = {t.name: t.array for t in output_tensors}
        self.error = error


def backend_utils() -> types.ModuleType:
    """What the models take from Triton's python backend, requests being {input name: Tensor}."""
    module = types.ModuleType(STUB)
    module.Tensor = Tensor  # type: ignore[attr-defined]
    module.TritonError = TritonError  # type: ignore[attr-defined]
    module.InferenceResponse = InferenceResponse  # type: ignore[attr-defined]
    module.get_input_tensor_by_name = lambda request, name: request[name]  # type: ignore[attr-defined]
    return module


def execute(model: Any, requests: list[dict[str, Tensor]], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`model.execute` as Triton calls it, the stub module importable only meanwhile (not at initialize, where
    it would freeze this process's heap)."""
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, STUB, backend_utils())
        answers: list[Any] = model.execute(requests)
        return answers


def args(directory: Path, version: str = "1", **parameters: str) -> dict[str, str]:
    config = {"parameters": {k: {"string_value": v} for k, v in parameters.items()}}
    return {"model_repository": str(directory), "model_version": version, "model_config": json.dumps(config)}


def texts(*batch: str | bytes) -> dict[str, Tensor]:
    return {TEXT_INPUT: Tensor(TEXT_INPUT, np.array(batch, dtype=object).reshape(-1, 1))}


def test_instance_groups_without_a_count_are_one_instance_each(monkeypatch: pytest.MonkeyPatch):
    """triton_adapters.py threads_per_instance: `group.get("count", 1)` -> `group.get("count", 0)` (two groups
    of one instance each took every core each); `value.strip()` dropped (" 2 " refused)."""
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    two_groups = {"instance_group": [{"kind": "KIND_CPU"}, {"kind": "KIND_CPU"}]}
    assert threads_per_instance({"model_config": json.dumps(two_groups)}) == 2
    spaced = {"parameters": {THREADS: {"string_value": " 2 "}}}
    assert threads_per_instance({"model_config": json.dumps(spaced)}) == 2


def test_the_shim_of_each_model_imports_that_models_class():
    """triton_adapters.py SHIMS: FinbertModel and PatchTST swapped (Triton loaded the other network's class)."""
    for model, cls in ((FINBERT_MODEL, FinbertModel), (PATCHTST, PatchTST)):
        scope: dict[str, Any] = {}
        exec(compile(shim(model), "model.py", "exec"), scope)  # the file Triton imports
        assert scope["TritonPythonModel"] is cls


def test_the_tokenizer_step_answers_each_request_with_its_own_rows(
    both_models: Path, monkeypatch: pytest.MonkeyPatch
):
    """triton_adapters.py FinbertTokenizer.execute and _split: `np.cumsum(sizes)[:-1]` -> `[1:]`; `k += 1`
    dropped; `not t.strip()` -> `not t`; `empty[0]` -> `empty[-1]`; bytes not decoded (`str(x)`); the mask split
    from the ids; pad_to_multiple_of ignored."""
    step = FinbertTokenizer()
    step.initialize(args(both_models / "finbert_tokenizer", pad_to_multiple_of="8"))
    requests = [
        texts(b"Shares soar after record earnings", "Profit falls"),
        texts("Zürich bank beats estimates".encode()),
        texts("  ", "fine", ""),
    ]
    first, second, failed = execute(step, requests, monkeypatch)
    assert failed.error is not None and failed.error.message == "TEXT[0] is empty" and failed.outputs == {}
    assert first.error is None and second.error is None
    want = step.encoder(["Shares soar after record earnings", "Profit falls", "Zürich bank beats estimates"])
    assert want[INPUT_IDS].shape[1] % 8 == 0
    np.testing.assert_array_equal(first.outputs[INPUT_IDS], want[INPUT_IDS][:2])
    np.testing.assert_array_equal(first.outputs[ATTENTION_MASK], want[ATTENTION_MASK][:2])
    np.testing.assert_array_equal(second.outputs[INPUT_IDS], want[INPUT_IDS][2:])
    np.testing.assert_array_equal(second.outputs[ATTENTION_MASK], want[ATTENTION_MASK][2:])
    assert first.outputs[ATTENTION_MASK][1].sum() < first.outputs[ATTENTION_MASK][0].sum()  # padding masked


def test_a_request_after_one_refused_in_the_same_batch_gets_its_own_rows(
    both_models: Path, monkeypatch: pytest.MonkeyPatch
):
    """triton_adapters.py FinbertTokenizer.execute: the rows were taken by a count of the requests answered, from
    a split that has a part for the refused one too: the request after it got none (an empty tensor), the next
    one the rows of the request before it (another client's text, merged by Triton's dynamic batcher). Also
    kills `[] if empty else batch` -> `batch` (the refused request's texts widened the others' rows)."""
    step = FinbertTokenizer()
    step.initialize(args(both_models / "finbert_tokenizer"))
    headlines = ["Shares soar after record earnings", "Profit falls", "Guidance unchanged for the year"]
    refused = texts("A long text that would widen every other request's rows were it tokenized with them", " ")
    requests = [texts(headlines[0]), refused, texts(headlines[1]), texts(headlines[2])]
    answers = execute(step, requests, monkeypatch)
    assert answers[1].error is not None and answers[1].error.message == "TEXT[1] is empty"
    assert [a.error is None for a in answers] == [True, False, True, True]
    want = step.encoder(headlines)
    for answer, row in zip([answers[0], *answers[2:]], range(3), strict=True):
        np.testing.assert_array_equal(answer.outputs[INPUT_IDS], want[INPUT_IDS][row : row + 1])
        np.testing.assert_array_equal(answer.outputs[ATTENTION_MASK], want[ATTENTION_MASK][row : row + 1])


def test_each_model_runs_on_the_threads_its_config_gives_and_says_so(
    both_models: Path, capsys: pytest.CaptureFixture[str]
):
    """triton_adapters.py FinbertModel/PatchTST.initialize: the opener given `threads=0` in place of the threads
    per instance; _named_threads `threads > 1` -> `threads >= 1` ("1 threads")."""
    finbert = FinbertModel()
    finbert.initialize(args(both_models / FINBERT_MODEL, runtime="onnxruntime-fp32", **{THREADS: "1"}))
    assert finbert.session.get_session_options().intra_op_num_threads == 1
    assert capsys.readouterr().out.rstrip().endswith("), 1 thread")
    directory = patchtst_dir(both_models)
    patchtst = PatchTST()
    patchtst.initialize(args(directory.parent, directory.name, runtime="onnxruntime", **{THREADS: "2"}))
    assert patchtst.session.get_session_options().intra_op_num_threads == 2
    assert capsys.readouterr().out.rstrip().endswith("), 2 threads")


def test_finbert_answers_requests_of_other_widths_as_it_answers_each_alone(
    both_models: Path, monkeypatch: pytest.MonkeyPatch
):
    """triton_adapters.py FinbertModel.execute: `max(width)` -> `min` ; the mask padded with ones (the padding
    attended); every request answered with the whole batch's logits (no split)."""
    step = FinbertTokenizer()
    step.initialize(args(both_models / "finbert_tokenizer"))
    model = FinbertModel()
    model.initialize(args(both_models / FINBERT_MODEL, runtime="onnxruntime-fp32"))
    long = step.encoder(["Shares soar after record earnings beat every estimate", "Profit falls"])
    short = step.encoder(["Guidance unchanged"])
    assert long[INPUT_IDS].shape[1] > short[INPUT_IDS].shape[1]
    requests = [{k: Tensor(k, v) for k, v in feed.items()} for feed in (long, short)]
    together = execute(model, requests, monkeypatch)
    alone = [execute(model, [request], monkeypatch)[0] for request in requests]
    assert [r.outputs[LOGITS].shape for r in together] == [(2, 3), (1, 3)]
    for both, one in zip(together, alone, strict=True):
        np.testing.assert_allclose(both.outputs[LOGITS], one.outputs[LOGITS], atol=1e-4)


def test_the_postprocess_step_gives_each_request_its_probabilities(monkeypatch: pytest.MonkeyPatch):
    """triton_adapters.py FinbertPostprocess.execute: softmax dropped (logits sent as probabilities)."""
    step = FinbertPostprocess()
    step.initialize(args(Path("finbert_postprocess")))
    logits = [np.array([[0.0, 0.0, 0.0]], np.float32), np.array([[2.0, 0.0, -1.0], [0, 0, 5]], np.float32)]
    answers = execute(step, [{LOGITS: Tensor(LOGITS, x)} for x in logits], monkeypatch)
    np.testing.assert_allclose(answers[0].outputs[PROBABILITIES], [[1 / 3] * 3], rtol=1e-6)
    np.testing.assert_allclose(answers[1].outputs[PROBABILITIES].sum(axis=1), [1.0, 1.0], rtol=1e-6)
    assert answers[1].outputs[PROBABILITIES][0].argmax() == 0 and answers[1].outputs[PROBABILITIES][1, 2] > 0.98


def test_patchtst_answers_each_request_with_its_own_forecasts_under_each_output_name(
    both_models: Path, monkeypatch: pytest.MonkeyPatch
):
    """triton_adapters.py PatchTST.execute: the sizes of the split all the first request's (three requests: with
    two, the last size is never read); OUTPUTS' names reversed; only the first request's windows run."""
    directory = patchtst_dir(both_models)
    model = PatchTST()
    model.initialize(args(directory.parent, directory.name, runtime="onnxruntime"))
    context = PatchTSTMeta.load(directory).context_length
    rng = np.random.default_rng(0)
    windows = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, (4, context)), axis=1)))[..., None].astype(np.float32)
    parts = [windows[:1], windows[1:3], windows[3:]]
    answers = execute(model, [{PAST: Tensor(PAST, p)} for p in parts], monkeypatch)
    want = model.session.run(list(OUTPUTS), {PAST: windows})
    assert [list(a.outputs) for a in answers] == [list(OUTPUTS)] * 3
    for name, expected in zip(OUTPUTS, want, strict=True):
        for answer, rows in zip(answers, (slice(0, 1), slice(1, 3), slice(3, 4)), strict=True):
            np.testing.assert_allclose(answer.outputs[name], expected[rows], rtol=1e-5)


def test_a_damaged_portable_graph_is_not_served_by_the_cpu_flavour(both_models: Path, tmp_path: Path):
    """triton_adapters.py PatchTST.initialize: the check of the portable graph's bytes dropped (another graph
    put in its place served, and every other runtime was judged against it)."""
    directory = Path(shutil.copytree(patchtst_dir(both_models), tmp_path / "1"))
    (directory / ONNX_FILE).write_bytes((directory / FUSED_ONNX_FILE).read_bytes())  # a sound graph, not the one
    with pytest.raises(ArtifactError, match=ONNX_FILE):
        PatchTST().initialize(args(directory.parent, directory.name, runtime="onnxruntime"))


def test_under_auto_a_graph_that_disagrees_is_named_in_the_log_with_why(
    both_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """triton_adapters.py PatchTST.initialize: `why = f"{name} not served, {problem}"` dropped (Triton's log gave
    the reason the fused graph was chosen, while the portable one served)."""
    directory = Path(shutil.copytree(patchtst_dir(both_models), tmp_path / "1"))
    for name in SPLIT_FILES:  # so that auto picks the fused graph on a BF16 CPU too
        (directory / name).unlink()
    graph = onnx.load(directory / FUSED_ONNX_FILE)
    for tensor in graph.graph.initializer:  # other weights: it loads and runs, and forecasts otherwise
        if tensor.data_type == onnx.TensorProto.FLOAT and tensor.dims:
            tensor.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(tensor) + 0.5, tensor.name))
    onnx.save(graph, directory / FUSED_ONNX_FILE)
    as_exported(directory)  # past the check of its bytes: what the runtime check catches
    chosen, _ = choose_runtime("auto", instruction_sets(), directory)
    model = PatchTST()
    model.initialize(args(directory.parent, directory.name))
    assert model.runtime == PORTABLE
    if chosen != PORTABLE:  # a CPU without AVX2 picks the portable graph at once
        assert f"serving {PORTABLE} ({chosen} not served, " in capsys.readouterr().out
