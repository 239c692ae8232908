"""Settings: config.yaml < INVESTIQ_* environment < CLI flags; bad values named with their origin."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from investiq.core.errors import SettingsError
from investiq.core.settings import Settings
from investiq.core.settings_load import load_settings, render_defaults

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_precedence_file_then_environment_then_flags(tmp_path: Path):
    config = write(tmp_path, "port: 9000\nhost: 0.0.0.0\ndb_path: from-file.db\n")
    env = {"INVESTIQ_PORT": "9100", "INVESTIQ_DB_PATH": "from-env.db"}
    s = load_settings(config, {"port": 9200, "host": None}, environ=env)
    assert (s.port, s.host, s.db_path) == (9200, "0.0.0.0", Path("from-env.db"))
    assert load_settings(config, environ=env).port == 9100
    assert load_settings(config, environ={}).port == 9000


def test_the_committed_config_file_is_the_rendered_defaults():
    committed = (ROOT / "config.yaml").read_text()
    assert committed == render_defaults(), "regenerate with: investiq config defaults > config.yaml"
    assert load_settings(ROOT / "config.yaml", environ={}) == Settings()


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("port: 70000\n", {}, "invalid setting port=70000 (from"),
        ("", {"INVESTIQ_PORT": "eighty"}, "invalid setting port='eighty' (from environment INVESTIQ_PORT)"),
        ("backend: gpu\n", {}, "invalid setting backend='gpu'"),
        ("bayes_half_life_days: -1\n", {}, "bayes_half_life_days=-1"),
        # an infinite prior made every win rate NaN and the weights silently equal
        ("", {"INVESTIQ_BAYES_PRIOR_ALPHA": "inf"}, "bayes_prior_alpha='inf' (from environment"),
        ("bayes_pnl_prior_scale: .inf\n", {}, "must be a finite number"),
        ("bayes_half_life_days: .inf\n", {}, "0 disables forgetting"),
        ("bayes_weight_floor: 0.5\nbayes_weight_cap: 0.3\n", {}, "bayes_weight_floor=0.5 is above"),
        ("prot: 8080\n", {}, "unknown setting 'prot' (from"),
        ("prot: 8080\n", {}, "did you mean 'port'?"),
        ("zzz: 1\n", {}, "see `investiq config defaults` for every setting"),
        ("- just\n- a list\n", {}, "must be a mapping"),
        ("port: [unclosed\n", {}, "cannot read config file"),
        ("port: 9000\nhost: 127.0.0.1\nport: 9001\n", {}, "'port' is set twice: keep one"),  # YAML keeps the last
        # an empty host (an unset ${HOST}) listened on every interface
        ("host: ''\n", {}, "host='' (from"),
        ("", {"INVESTIQ_HOST": " "}, "give 127.0.0.1 (this host only) or 0.0.0.0"),
        (
            "",
            {"INVESTIQ_DB_PATH": ""},
            "invalid setting db_path='' (from environment INVESTIQ_DB_PATH): Value error, empty",
        ),
        # `triton status` split "localhost" into a port: a traceback
        ("triton_url: localhost\n", {}, "must be host:port"),
        ("triton_url: 'localhost:'\n", {}, "must be host:port"),
        ("triton_url: http://127.0.0.1:8001\n", {}, "a gRPC target, not a URL"),
        ("price_interval: 15 minutes\n", {}, "unknown bar interval; one of"),
        ("", {"INVESTIQ_SKILL_WINDOWS_DAYS": "30,x"}, "skill_windows_days='30,x' (from environment"),
        ("api_key_env: s3cr3t-key-value\n", {}, "must name an environment variable"),
        # each was a traceback, or taken (port 1), a review
        ("port: true\n", {}, "true is a yes/no, and this setting is a number"),
        ("skill_windows_days: [30, true]\n", {}, "a yes/no (true or false) among numbers"),
        ("1: 2\n", {}, "has 1 where a setting's name goes"),
        ("journal_retention_days: 99999999\n", {}, "journal_retention_days=99999999"),
        ("price_symbols: [SPY, a/b]\n", {}, "symbol 'a/b' cannot name a cache file"),
        # a 500 on every /bayesian route (an overflow), and a NaN interval (a review)
        ("bayes_pnl_prior_mean: 1e200\n", {}, "bayes_pnl_prior_mean='1e200'"),
        ("bayes_pnl_prior_kappa: 1e-10\nbayes_pnl_prior_scale: 1e300\n", {}, "is not a finite number"),
    ],
)
def test_invalid_values_are_named(tmp_path: Path, text: str, env: dict[str, str], message: str):
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path, text), environ=env)
    assert message in str(info.value)


def test_a_config_file_not_in_utf8_says_so(tmp_path: Path):
    """A comment saved in Windows-1252 ended in a UnicodeDecodeError traceback (a review)."""
    path = tmp_path / "config.yaml"
    path.write_bytes(b"# r\xe9glages\nport: 9000\n")
    with pytest.raises(SettingsError, match=r"not UTF-8 \(byte 0xe9 at offset 3\): save it as UTF-8"):
        load_settings(path, environ={})


def test_the_api_key_comes_from_the_named_variable_only(tmp_path: Path):
    config = write(tmp_path, "api_key_env: AGENT_KEY\n")
    assert load_settings(config, environ={"ML_API_KEY": "ignored"}).api_key is None
    settings = load_settings(config, environ={"AGENT_KEY": "k1"})
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "k1"
    assert "k1" not in repr(settings) and "k1" not in settings.model_dump_json()
    with pytest.raises(SettingsError, match="keys never go in files"):
        load_settings(write(tmp_path, "api_key: in-a-file\n"), environ={})


def test_an_api_key_is_what_a_client_can_send(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """HTTP drops a header value's surrounding whitespace: a key read with its file's newline refused every
    request, the right key too. It is used stripped (said); one no header can carry is refused at start."""
    config = write(tmp_path, "")
    settings = load_settings(config, environ={"ML_API_KEY": "change-me\n"})
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "change-me"
    assert "whitespace around it" in caplog.text and "change-me" not in caplog.text
    for bad in ("a\tb", "clé", " \n"):
        with pytest.raises(SettingsError, match="no client could send it"):
            load_settings(config, environ={"ML_API_KEY": bad})
    # set but empty served every route keyless (a Kubernetes secret with no value, a review)
    with pytest.raises(SettingsError, match="ML_API_KEY is set but empty: set the key, or unset ML_API_KEY"):
        load_settings(config, environ={"ML_API_KEY": ""})


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})
    # INVESTIQ_CONFIG names a file as --config does: a missing one served every default without a word
    with pytest.raises(SettingsError, match="named by INVESTIQ_CONFIG"):
        load_settings(environ={"INVESTIQ_CONFIG": str(tmp_path / "nope.yaml")})


def test_an_error_between_settings_names_them_and_never_shows_the_api_key(tmp_path: Path):
    """An error of no one field printed every value given, the API key's too (a review)."""
    env = {"ML_API_KEY": "TOPSECRETKEY123", "INVESTIQ_BAYES_WEIGHT_CAP": "0.01"}
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path, ""), environ=env)
    message = str(info.value)
    assert "TOPSECRETKEY123" not in message
    assert "bayes_weight_cap from environment INVESTIQ_BAYES_WEIGHT_CAP" in message and "is above" in message


def test_relative_paths_are_the_current_directory_s_wherever_written_and_home_is_expanded(tmp_path: Path):
    """Read from the config file's directory (tried 2026-12-05), an installation whose config lives elsewhere
    (--config /etc/investiq/config.yaml, db_path: portfolio.db) got a new, empty journal beside it (a review)."""
    config = write(tmp_path, "db_path: journal.db\nmodels_dir: /abs/models\nlogs_dir: ~/investiq-logs\n")
    settings = load_settings(config, environ={"INVESTIQ_DATA_DIR": "market"})
    assert settings.db_path == Path("journal.db") and settings.models_dir == Path("/abs/models")
    assert settings.logs_dir == Path.home() / "investiq-logs" and settings.data_dir == Path("market")
    assert load_settings(environ={"INVESTIQ_CONFIG": ""}).port == 8080  # set and empty: no settings file


def test_settings_read_as_users_write_them(tmp_path: Path):
    settings = load_settings(
        write(tmp_path, "triton_url: '[::1]:8001'\n"),
        environ={"INVESTIQ_PRICE_SYMBOLS": '["spy", " QQQ"]', "INVESTIQ_SKILL_WINDOWS_DAYS": "7, 30"},
    )
    # tickers as the bar cache and the journal keep them
    assert settings.price_symbols == ["SPY", "QQQ"] and settings.skill_windows_days == [7, 30]
    for target in ("dns:///triton-pods:8001", "xds:///triton", "ipv4:10.0.0.1:8001,10.0.0.2:8001", ":8001"):
        assert load_settings(environ={"INVESTIQ_TRITON_URL": target}).triton_url == target
    (tmp_path / "afile").write_text("")
    with pytest.raises(SettingsError, match=r"model_repository=.* is a file: give a directory"):
        load_settings(environ={"INVESTIQ_MODEL_REPOSITORY": str(tmp_path / "afile")})


def test_an_environment_variable_that_names_no_setting_is_warned_about(caplog: pytest.LogCaptureFixture):
    """INVESTIQ_PROT=9000 served on the configured port without a word (found by a probe): now it is named, with
    the setting meant. Only a warning: the environment is shared with other programs."""
    env = {"INVESTIQ_PROT": "9000", "INVESTIQ_PORT": "8100", "INVESTIQ_DATA": "./data", "INVESTIQ_ZZZ": "1"}
    with caplog.at_level(logging.WARNING, logger="investiq.core.settings_load"):
        settings = load_settings(environ=env)
    assert settings.port == 8100
    assert "INVESTIQ_PROT is not a setting and is ignored: did you mean INVESTIQ_PORT?" in caplog.text
    assert "INVESTIQ_ZZZ is not a setting" in caplog.text and "INVESTIQ_DATA" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="investiq.core.settings_load"):
        load_settings(environ={"INVESTIQ_API_KEY": "k"})
    assert "the key goes in the variable that api_key_env names" in caplog.text  # not "did you mean ..._ENV"
