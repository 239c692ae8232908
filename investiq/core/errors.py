"""The one error tree of InvestIQ ML: every error the product raises on purpose is an `InvestIQError`.

Callers catch the base class, or the narrowest class they can act on; foreign exceptions (sqlite3,
ONNX Runtime, Triton, HTTP clients) are translated into these at the boundary that meets them, with a
message that names the offending value and what to do next. The gateway answers the HTTP categories
below with their `status_code` and `kind` in one handler (gateway/errors.py); any other InvestIQError
reaching it is an internal error (500). The command line turns any InvestIQError into a one-line
message and exit status 1.

    InvestIQError
    ├── InvalidInputError (422)         bad request values; PriceInputError
    ├── UnavailableError (503)          cannot answer now, may later
    │   ├── BackendUnavailableError     ONNX Runtime / Triton; ModelNotReadyError, DataUnavailableError
    │   └── JournalUnavailableError     a durable write could not be committed
    ├── ConflictError (409)             ReloadFailedError: the old version keeps serving
    ├── SettingsError                   a setting or the config file is invalid
    ├── ArtifactError                   a model artifact is missing, incomplete or corrupt
    ├── ExportError                     an export failed or did not validate; nothing installed
    ├── DataError                       market data cannot be had or used
    └── ...                             each layer's own: JournalError, VersionError, RolloutError, ...
"""

from __future__ import annotations

from typing import ClassVar


class InvestIQError(Exception):
    """Base of every error raised on purpose; `str(exc)` is a message for the user."""

    status_code: ClassVar[int] = 500
    kind: ClassVar[str] = "internal_error"


class InvalidInputError(InvestIQError, ValueError):
    """A request value cannot be used; the message names the field and the value."""

    status_code = 422
    kind = "invalid_input"


class UnavailableError(InvestIQError):
    """Something the answer needs cannot be had now; retrying later may succeed.

    `retry_after_s`: the gateway's `Retry-After` for it, a guess at when to ask again (a model loading, Triton
    restarting, the data source back), not a promise."""

    status_code = 503
    kind = "unavailable"
    retry_after_s: ClassVar[int] = 5


class BackendUnavailableError(UnavailableError):
    """The inference backend (ONNX Runtime sessions, Triton) cannot answer now."""

    kind = "backend_unavailable"


class ModelNotReadyError(BackendUnavailableError):
    kind = "model_not_ready"


class VersionMovedError(ModelNotReadyError):
    """The backend no longer serves the model version a request was pinned to: another process (a second gateway
    sharing the Triton server, an operator) rolled out another one. `serving`: the version it serves now, where
    every server agrees on one; None where they do not (a rollout under way) or it could not say."""

    def __init__(self, message: str, serving: int | None) -> None:
        super().__init__(message)
        self.serving = serving


class JournalUnavailableError(UnavailableError):
    """A write that must be durable before answering (a Bayesian update) could not be committed."""

    kind = "journal_unavailable"
    retry_after_s = 1  # mostly another writer holding the lock past the busy timeout


class ConflictError(InvestIQError):
    status_code = 409
    kind = "conflict"


class SettingsError(InvestIQError, ValueError):
    """A setting is invalid or the config file cannot be read; the message names key and value."""


class ArtifactError(InvestIQError):
    """An artifact is missing, incomplete or corrupt; the message names the file and what to do."""


class ExportError(InvestIQError):
    """An export cannot be done or failed validation; nothing was installed."""


class DataError(InvestIQError, ValueError):
    """Market data cannot be had or used; the message names symbol/source and what to do."""
