"""Where settings come from: `config.yaml` < environment (`INVESTIQ_*`) < CLI flags, merged into one `Settings`
(investiq/core/settings.py) with errors that name the setting, its value and where it came from; the committed
config.yaml rendered from the fields (`render_defaults`)."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from investiq.core.errors import SettingsError
from investiq.core.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)
DEFAULT_CONFIG = Path("config.yaml")


def load_settings(
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge config file < `INVESTIQ_*` environment < `overrides` (CLI flags; None values ignored).

    `config` defaults to ./config.yaml when it exists. Raises SettingsError naming key and value.
    """
    env = os.environ if environ is None else environ
    named = env.get(f"{ENV_PREFIX}CONFIG")
    path = config if config is not None else Path(named) if named is not None else DEFAULT_CONFIG
    if (config is not None or named) and not path.is_file():  # INVESTIQ_CONFIG="": no settings file
        where = "" if config is not None else f" (named by {ENV_PREFIX}CONFIG)"
        raise SettingsError(f"config file {str(path)!r}{where} does not exist")
    values: dict[str, Any] = dict(_read_config(path)) if path.is_file() else {}
    if "api_key" in values:
        raise SettingsError(
            f"config file {str(path)!r} holds api_key: keys never go in files; put it in the environment "
            "variable named by api_key_env (ML_API_KEY by default)"
        )
    origin = dict.fromkeys(values, f"{path}")
    _warn_unknown_environment(env)
    for key in Settings.model_fields:
        name = f"{ENV_PREFIX}{key.upper()}"
        if key != "api_key" and name in env:
            values[key], origin[key] = env[name], f"environment {name}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key], origin[key] = value, "command line"
    key_env = str(values.get("api_key_env", Settings.model_fields["api_key_env"].default))
    if key_env in env:  # set but empty is no "off": a Kubernetes secret with no value served every route keyless
        values["api_key"] = _api_key(env[key_env], key_env)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, values, origin)) from None


def _api_key(raw: str, name: str) -> str:
    """The key as clients can send it: HTTP drops a header value's surrounding whitespace, so a key read with its
    file's newline ("change-me\\n") refused every request, its own too, with "wrong API key". Surrounding
    whitespace is dropped, with a warning; a key that still holds a character no header carries is refused."""
    key = raw.strip()
    if not raw:
        raise SettingsError(f"{name} is set but empty: set the key, or unset {name} to serve without one")
    if not key or any(not (ch.isprintable() and ch.isascii()) for ch in key):
        raise SettingsError(
            f"the API key in {name} holds a character an HTTP header cannot carry (a control character, or "
            "not ASCII), or only whitespace: no client could send it; set printable ASCII, e.g. "
            "`export ML_API_KEY=$(openssl rand -hex 24)`"
        )
    if key != raw:
        log.warning("the API key in %s had whitespace around it (a file's newline?): it is used without", name)
    return key


# INVESTIQ_* names that are not settings but are read: the config file's path; docker-compose.yml's journal folder
NOT_SETTINGS = {f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}DATA"}


def _warn_unknown_environment(env: Mapping[str, str]) -> None:
    """Log each INVESTIQ_* variable that names no setting, with the nearest one: a misspelt variable was ignored
    without a word (INVESTIQ_PROT=9000 served on the configured port; found by a probe). A warning, not an error
    as in config.yaml: the environment is shared with other programs."""
    known = [f"{ENV_PREFIX}{key.upper()}" for key in Settings.model_fields if key != "api_key"]
    for name in sorted(n for n in env if n.startswith(ENV_PREFIX) and n not in known and n not in NOT_SETTINGS):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        hint = f": did you mean {close[0]}?" if close else " (`investiq config show` lists the settings)"
        if name == f"{ENV_PREFIX}API_KEY":  # its near name, api_key_env, takes a variable's name, not the key
            hint = ": the key goes in the variable that api_key_env names (ML_API_KEY by default)"
        log.warning("environment variable %s is not a setting and is ignored%s", name, hint)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last silently: a
    `port: 9000` further up would be read by a person and ignored by the gateway; found by a probe)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is set twice: keep one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_config(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except UnicodeDecodeError as exc:  # a comment saved in Latin-1 or Windows-1252 ended in a traceback (a review)
        raise SettingsError(
            f"cannot read config file {str(path)!r}: it is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}): save it as UTF-8"
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read config file {str(path)!r}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {str(path)!r} must be a mapping of setting: value")
    if odd := [key for key in data if not isinstance(key, str)]:  # `1: 2` ended in a TypeError traceback
        where = f"config file {str(path)!r} has {odd[0]!r}"
        raise SettingsError(f"{where} where a setting's name goes: names are words")
    return data


def _describe(exc: ValidationError, values: Mapping[str, Any], origin: Mapping[str, str]) -> str:
    """One line per error, naming the setting, its value and where it came from; the API key is never shown.
    An error between settings (no field of its own) names each setting it mentions and its origin: it printed
    every value given, the API key's included (a review)."""
    lines = []
    for error in exc.errors():
        if not error["loc"]:
            named = [
                f"{key} from {origin[key]}"
                for key in Settings.model_fields
                if key in error["msg"] and key in origin
            ]
            lines.append(f"invalid settings: {error['msg']}" + (f" ({'; '.join(named)})" if named else ""))
            continue
        key = str(error["loc"][0])  # a list's item adds its index: skill_windows_days.0
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, list(Settings.model_fields), n=1, cutoff=0.7)
            hint = f"did you mean {close[0]!r}?" if close else "see `investiq config defaults` for every setting"
            lines.append(f"unknown setting {key!r} (from {origin.get(key, 'settings')}): {hint}")
            continue
        shown = "<hidden>" if key == "api_key" else repr(values.get(key, error.get("input")))
        where = f" (from {origin[key]})" if key in origin else ""
        lines.append(f"invalid setting {key}={shown}{where}: {error['msg']}")
    return "; ".join(lines)


def render_defaults() -> str:
    """The committed config.yaml: every setting with its default and description."""
    out = [
        "# InvestIQ ML settings. Precedence: this file < environment INVESTIQ_<KEY> < command-line flags.",
        "# Rendered from investiq/core/settings.py by `investiq config defaults`; a test keeps them equal.",
        "",
    ]
    for key, field in Settings.model_fields.items():
        if field.exclude:
            continue
        default = field.default
        plain = str(default) if isinstance(default, Path) else default
        out.append(f"# {field.description}")
        out.append(yaml.safe_dump({key: plain}, default_flow_style=False, sort_keys=False).strip())
    return "\n".join(out) + "\n"
