"""How a failed call to Triton reads: tritonclient's exception classified (timed out, unreachable, a model it does
not serve, a call refused for want of the admin token) and translated into the gateway's errors, with Triton's
message cut to what the agent should read (`brief`)."""

from __future__ import annotations

import logging

from gateway.backends.triton_admin import RESTRICTED
from investiq.core.errors import BackendUnavailableError, InvalidInputError, ModelNotReadyError

log = logging.getLogger(__name__)
UNKNOWN_MODEL = (
    "Request for unknown model"  # how Triton begins its answer for a model or version it does not serve
)


def status_of(exc: Exception) -> str:
    """The gRPC status of tritonclient's InferenceServerException ("StatusCode.UNAVAILABLE"), or ""."""
    return str(getattr(exc, "status", lambda: "")() or "")


def message_of(exc: Exception) -> str:
    return str(getattr(exc, "message", lambda: str(exc))() or exc)


def timed_out(exc: Exception) -> bool:
    """The call's deadline passed: here (DEADLINE_EXCEEDED), or in Triton's queue where an operator's queue policy
    rejects a request past its timeout with UNAVAILABLE "Request timeout expired"."""
    return "DEADLINE" in status_of(exc) or "timeout expired" in message_of(exc).lower()


def unreachable(exc: Exception) -> bool:
    """Whether the call did not reach Triton (connection refused or reset: UNAVAILABLE). Triton answers a model
    (or version) it does not serve with UNAVAILABLE too, "Request for unknown model: 'patchtst' version 1 is not at
    ready state" (an unloaded version): that reached it (until 2026-12-05 it reset the channel and read "is it
    running?"); and so a restricted call without its token (`refused`)."""
    if timed_out(exc) or message_of(exc).startswith(UNKNOWN_MODEL) or refused(exc):
        return False
    return "UNAVAILABLE" in status_of(exc) or "failed to connect" in message_of(exc).lower()


def not_served(exc: Exception) -> bool:
    """Whether Triton answered that it does not serve the model or version asked for ("Request for unknown model:
    'patchtst' version 1 is not at ready state"; the ensemble: "... 'finbert' has no available versions")."""
    return message_of(exc).startswith(UNKNOWN_MODEL)


def refused(exc: Exception) -> bool:
    """Triton refused a restricted call for want of the admin token ("This protocol is restricted, expecting header
    'triton-grpc-protocol-investiq-admin-token'")."""
    return RESTRICTED in message_of(exc)


def load_failed(model: str, where: str, reason: str) -> ModelNotReadyError:
    return ModelNotReadyError(f"Triton at {where} could not load {model!r}: {reason}")


def translate(exc: Exception, model: str, url: str, timeout_s: float) -> Exception:
    """The gateway's error for a failed call to Triton. A timeout says so: it read "unavailable ...; is it
    running?" of a server that was running, only busy (a review)."""
    status = status_of(exc)
    message = brief(message_of(exc), model)
    if timed_out(exc):
        return BackendUnavailableError(
            f"Triton at {url} did not answer for {model!r}: timed out after {timeout_s:g} s"
        )
    if unreachable(exc):
        return BackendUnavailableError(
            f"Triton at {url} is unavailable ({message}); is it running? `investiq triton status`"
        )
    if any(words in message for words in ("not found", "is not ready", "not at ready state", "unknown model")):
        return ModelNotReadyError(f"Triton at {url} has no ready model {model!r}: {message}")
    if "INVALID_ARG" in status and "batch-size must be" in message:  # the gateway's batch, not the request
        return ModelNotReadyError(
            f"Triton at {url} takes smaller batches of {model!r} than this gateway sends ({message}): set "
            "sentiment_batch_size / price_batch_size to its max_batch_size, or raise that in its config.pbtxt"
        )  # was a 422 blaming the client (a review)
    if "INVALID_ARG" in status:
        return InvalidInputError(f"Triton rejected the request to {model!r}: {message}")
    return BackendUnavailableError(f"Triton at {url} failed on {model!r}: {status} {message}".strip())


MAX_DETAIL = 500  # characters of Triton's message an answer carries


def brief(message: str, model: str) -> str:
    """Triton's message as the agent should read it: a python backend's traceback (OpenVINO's, ONNX Runtime's)
    cut to the line before it and its last line, the error itself, and at most MAX_DETAIL characters; the whole
    message goes to the gateway's log."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    short = message.strip()
    if "Traceback (most recent call last)" in message:
        head = message.split("Traceback (most recent call last)", 1)[0].strip().rstrip(":")
        short = f"{head}: {lines[-1]}" if head else lines[-1]
    if len(short) > MAX_DETAIL:
        short = short[: MAX_DETAIL - 3] + "..."
    if short != message.strip():
        log.warning("Triton's whole message for %s: %s", model, message)
    return short
