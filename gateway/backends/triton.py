"""The Triton backend: the same models and tensors as the embedded one, over gRPC (asyncio).

Every call carries a timeout. Failures are translated here: an unreachable server or a model that
is not loaded becomes a 503 naming the model and the address; a request Triton rejects becomes a
422 with Triton's reason. The gRPC channel reconnects by itself, so when Triton comes back the
gateway recovers without a restart; an inference that finds Triton unreachable is sent once more on a
fresh channel within its deadline, and behind several servers, one a server answers it does not serve (draining)
is sent to others, up to three calls. The deadline is gRPC's: a call past it is cancelled, which Triton honours
for part of what waits in its queue. Triton is not told a per-request `timeout` (its queue policy): with one,
Triton 2.51's dynamic batcher stalled ~500 ms at a time under load (README, Serving on Triton). Its calls of the
model-repository API (load, the repository index) carry the admin token that Triton wants for them
(gateway/backends/triton_admin.py); how its failures read is gateway/backends/triton_errors.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.backends.base import Tensors
from gateway.backends.triton_admin import GRPC_ADMIN_HEADER, admin_token, refusal
from gateway.backends.triton_errors import (
    brief,
    load_failed,
    not_served,
    refused,
    status_of,
    timed_out,
    translate,
    unreachable,
)
from investiq.core.errors import BackendUnavailableError, ModelNotReadyError, SettingsError, VersionMovedError
from investiq.core.finbert import FINBERT, FINBERT_MODEL, PROBABILITIES, TEXT_INPUT
from investiq.core.finbert import OUTPUT as LOGITS
from investiq.core.patchtst import OUTPUTS as PATCHTST_OUTPUTS
from investiq.core.patchtst import PATCHTST

OUTPUTS = {FINBERT: [PROBABILITIES], FINBERT_MODEL: [LOGITS], PATCHTST: list(PATCHTST_OUTPUTS)}
# gRPC shares subchannels (and their reconnect backoff, up to 2 minutes) across channels: a channel
# of its own that retries within 2 s is what lets the gateway recover as soon as Triton is back.
# round_robin: the channel connects to every address the target resolves to and spreads calls over the
# ready ones, so a name with several addresses (a Kubernetes headless Service: one per Triton pod; or
# "ipv4:10.0.0.1:8001,10.0.0.2:8001") balances per call, not per connection. One address: the same as
# gRPC's default (pick_first). gRPC re-resolves the name only when a connection drops: a pod that became ready
# after a rolling restart got no call (a review). `ready` (each /metrics scrape and readiness check) looks the
# name up, and where it names other servers than the channel was made with, new calls get a fresh channel.
CHANNEL_ARGS = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
log = logging.getLogger(__name__)
LOAD_TIMEOUT_S = 120.0  # at least, for a load request: a model's start-up (a TensorRT build: minutes) is slow
DTYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64", np.dtype(object): "BYTES"}
# calls of one inference, at most, while the servers behind the target answer that they do not serve its model
SERVED_TRIES = 3


class TritonBackend:
    name = "triton"
    # model_version's runtime tag ("<weights>-triton"): Triton picks FinBERT's runtime on its own host (the cpu
    # flavour: auto on that CPU, in its log; the gpu flavour: TensorRT), which the gateway cannot see
    finbert_variant = "triton"

    def __init__(self, url: str, timeout_s: float, admin_token: str | None = None) -> None:
        """`admin_token`: what the model-repository calls (`reload`) send Triton; None: TRITON_ADMIN_TOKEN's value,
        or the token of a Triton this process started on that port (module function `admin_token`)."""
        try:
            import tritonclient.grpc.aio as grpcclient
        except ImportError:  # scripts/up.sh's environment has none: a 35-line traceback (a review)
            raise SettingsError(
                "backend triton needs Triton's client, which this environment lacks: "
                "`.venv/bin/pip install -e '.[triton-client]'`, or serve with --backend embedded"
            ) from None

        self._grpc = grpcclient
        self._url = url
        self.target = url
        self._timeout_s = timeout_s
        self._channel: Any = None
        self._channel_servers: frozenset[str] | None = None  # what the target named when the channel was made
        self._probes: dict[str, Any] = {}  # address -> a channel of its own, for `ready` behind a balanced target
        self._turn = 0  # which server `_elsewhere` starts from
        self._closing: set[asyncio.Task[None]] = set()
        self._admin_token = admin_token

    @property
    def _client(self) -> Any:
        # Made on first use, inside the event loop that will use it (grpc.aio binds to a loop).
        if self._channel is None:
            self._channel = self._grpc.InferenceServerClient(self._url, channel_args=CHANNEL_ARGS)
        return self._channel

    async def infer(
        self, model: str, inputs: Tensors, version: int | None = None
    ) -> dict[str, NDArray[np.generic]]:
        """`version`: the request goes to that version only (Triton's `model_version`). Several gateways may share
        a Triton server, and a reload through one of them switched Triton to a new version while the others went
        on reading the old one's metadata: they labelled and journaled its forecasts as the old version's (a
        review). Pinned, a request for a version Triton no longer serves fails, as VersionMovedError naming the
        version it serves now, which the caller can adopt."""
        if model not in OUTPUTS:
            raise ModelNotReadyError(f"model {model!r} is not served through Triton (known: {', '.join(OUTPUTS)})")
        request = []
        for name, array in inputs.items():
            array = _wire(model, name, np.asarray(array))
            tensor = self._grpc.InferInput(name, list(array.shape), DTYPES[array.dtype])
            tensor.set_data_from_numpy(array)
            request.append(tensor)
        outputs = [self._grpc.InferRequestedOutput(o) for o in OUTPUTS[model]]
        try:
            result = await self._send(model, request, outputs, "" if version is None else str(version))
        except ModelNotReadyError:
            if version is None:
                raise
            await self._moved(model, version)  # raises VersionMovedError where Triton serves another version
            raise
        return {o: result.as_numpy(o) for o in OUTPUTS[model]}

    async def _moved(self, model: str, version: int) -> None:
        """After a call pinned to `version` found no such model: raise VersionMovedError where the servers serve
        other versions of `model` (`_moved_from`), naming the one they serve, or None where they differ; return
        where they still serve `version`, or say nothing, and the call's own error stands."""
        moved = await self._moved_from(model, version)
        if moved is None:
            return
        found, serving = moved
        where = "; ".join(f"{', '.join(map(str, v)) or 'none'} on {server}" for server, v in found.items())
        under_way = "" if serving is not None else " (a rollout under way: send the request again once it is done)"
        raise VersionMovedError(
            f"Triton no longer serves version {version} of {model!r}, which this request was made for: it serves "
            f"{where}{under_way}",
            serving,
        )

    async def serving_version(self, model: str, version: int) -> int | None:
        """The version of `model` to read instead of `version`, by the rule a pinned forecast follows (`_moved`):
        where no server that answers serves `version` any more, and all serve one other; else None (`version`
        still served, beside a new one loading too; servers that differ; none answering)."""
        moved = await self._moved_from(model, version)
        return None if moved is None else moved[1]

    async def _moved_from(self, model: str, version: int) -> tuple[dict[str, list[int]], int | None] | None:
        """None where every server that answers still serves `version`, or none answers; else the versions each
        serves, and the one they all serve (the newest each has ready) or None where they differ."""
        found = {server: ready for server, ready in (await self._versions(model)).items() if ready}
        if not found or all(version in ready for ready in found.values()):
            return None
        newest = {max(ready) for ready in found.values()}
        return found, next(iter(newest)) if len(newest) == 1 else None

    async def _versions(self, model: str) -> dict[str, list[int]]:
        """The versions of `model` each server the target names has ready (Triton's model metadata), by server;
        a server that does not answer, or does not serve `model`, is left out."""
        servers = await self._servers(warn=False)

        async def ask(server: str) -> list[int] | None:
            client = self._client if len(servers) == 1 else self._probe(server)
            try:
                meta = await client.get_model_metadata(model, as_json=True, client_timeout=self._timeout_s)
            except Exception:  # InferenceServerException: unreachable, or the model not loaded
                return None
            return sorted(int(v) for v in meta.get("versions", []) if str(v).isdigit())

        answers = await asyncio.gather(*(ask(server) for server in servers))
        return {server: found for server, found in zip(servers, answers, strict=True) if found is not None}

    def _probe(self, server: str) -> Any:
        """A channel of its own to one server of several (kept between calls): readiness checks, and inferences
        sent again to other servers (`_elsewhere`)."""
        if server not in self._probes:
            self._probes[server] = self._grpc.InferenceServerClient(server, channel_args=CHANNEL_ARGS)
        return self._probes[server]

    async def _send(self, model: str, request: list[Any], outputs: list[Any], version: str = "") -> Any:
        """One inference within the timeout, sent once more on a fresh channel when the first found Triton
        unreachable: after a restart of Triton the old channel sits in its reconnect backoff, and every call
        of a burst on it got a 503, not only the first (a review). Inference is idempotent. A timeout leaves
        the channel as it is: a fresh one would not make a busy server answer sooner. Behind a target that names
        several servers, an answer that the model (or version) is not served is sent again to other servers
        (`_elsewhere`): a server draining (SIGTERM: a rolling restart, a node drain) keeps its port open and
        answers "unknown model" for 1-3 s while the others serve it, and 90 of 1,658 requests got a 503 (an
        audit). One server: a 503 at once, as before."""
        loop = asyncio.get_running_loop()
        deadline, retried = loop.time() + self._timeout_s, False
        client, elsewhere = self._client, self._elsewhere()
        while True:
            try:
                return await client.infer(
                    model, request, model_version=version, outputs=outputs, client_timeout=deadline - loop.time()
                )
            except Exception as exc:  # tritonclient raises InferenceServerException for everything
                lost = unreachable(exc)
                if lost:
                    await self._reset(client)  # a fresh channel connects at once; the old one backs off
                other = next(elsewhere, None) if not_served(exc) else None
                if not (other is not None or (lost and not retried)) or loop.time() >= deadline:
                    raise translate(exc, model, self._url, self._timeout_s) from None
                retried = retried or lost
                client = self._client if other is None else other

    def _elsewhere(self) -> Iterator[Any]:
        """Where to send an inference again that a server answered it does not serve: the channels of their own of
        SERVED_TRIES - 1 servers the target names (`_probe`), each another, from the next in turn; none for one
        server. Not the balanced channel: it takes each call to the next server in turn, but of all the calls in
        flight, so a call sent again there reached the draining server again as often as not. Two pip
        tritonservers under 4 callers for 8 s, one sent SIGTERM after 2: sent once, 2,357 of 17,611 calls failed;
        three times on the balanced channel, 396 of 13,349; to the servers in turn, none (11,823; 11,882)."""
        servers = self._known_servers()
        if len(servers) < 2:
            return
        self._turn = first = self._turn + 1  # its own: the calls in flight beside it move the turn on meanwhile
        for i in range(min(len(servers), SERVED_TRIES - 1)):
            yield self._probe(servers[(first + i) % len(servers)])

    def _known_servers(self) -> list[str]:
        """The servers the target names without looking it up: as the latest readiness check found them (a dns:
        name), or before any, the addresses of an "ipv4:"/"ipv6:" list; else the target itself."""
        if self._channel_servers is not None:
            return sorted(self._channel_servers)
        scheme, _, rest = self._url.partition(":")
        return rest.split(",") if scheme in ("ipv4", "ipv6") else [self._url]

    async def ready(self, model: str | None = None) -> bool:
        """Whether the server (model None) or `model` is ready on every server the target names that answers,
        and at least one answers. Through the balanced channel each check reached one server: with a model
        unloaded on one of two, investiq_backend_ready, /price/health and /health flapped between 1 and 0 while
        every other request for it failed, and an alert on `== 0 for 2m` never fired. One server: the channel."""
        found = await self._lookup(warn=False)
        if found is not None:  # a failed lookup says nothing of the servers: the channel keeps what it has
            await self._follow(frozenset(found))
        servers = found if found is not None else sorted(self._channel_servers or [self._url])
        self._drop_probes(set(servers) if len(servers) > 1 else set())
        if len(servers) == 1:
            client = self._client
            return bool(await self._ask(client, model, lambda: self._reset(client)))
        answers = await asyncio.gather(*(self._ready_on(server, model) for server in servers))
        answered = [a for a in answers if a is not None]
        return bool(answered) and all(answered)

    async def _ready_on(self, server: str, model: str | None) -> bool | None:
        """`ready` on one server of several, over a channel of its own (kept between checks); None when the
        server cannot be reached: the balanced channel sends it no calls either (round_robin picks the servers
        it is connected to: with one of two addresses refusing connections, every call answered)."""
        return await self._ask(self._probe(server), model, lambda: self._drop_probe(server))

    async def _ask(self, client: Any, model: str | None, reset: Callable[[], Awaitable[None]]) -> bool | None:
        """is_server_ready or is_model_ready on `client`; False on a failure (a timeout: the server may be taking
        calls it cannot answer), None when it is unreachable (UNAVAILABLE). Either way `reset` gets a fresh
        channel next time: the failed one backs off its reconnects for up to 2 s."""
        try:
            if model is None:
                return bool(await client.is_server_ready(client_timeout=self._timeout_s))
            return bool(await client.is_model_ready(model, client_timeout=self._timeout_s))
        except Exception as exc:  # tritonclient raises InferenceServerException for everything
            await reset()
            return None if "UNAVAILABLE" in status_of(exc) else False

    async def _follow(self, servers: frozenset[str]) -> None:
        """A fresh balanced channel when the target names other servers than when the channel was made (a pod
        gone, one added): the old one would keep the addresses it resolved until a connection of it drops."""
        if self._channel is None:
            self._channel_servers = servers  # the channel made next resolves them
        elif servers != self._channel_servers:
            log.info(
                "Triton servers now %s (were %s): a fresh channel",
                sorted(servers),
                sorted(self._channel_servers or ()),
            )
            self._channel_servers = servers
            await self._reset()

    async def _drop_probe(self, server: str) -> None:
        self._retire(self._probes.pop(server, None))

    def _drop_probes(self, keep: set[str]) -> None:
        """Retire the readiness channels of addresses the target no longer names (a pod gone)."""
        for server in set(self._probes) - keep:
            self._retire(self._probes.pop(server))

    async def reload(self, model: str) -> None:
        """Ask Triton (explicit model-control mode) to load the repository's newest version of `model`, on
        every server the target resolves to (several Triton pods behind one name: a load request on the
        balanced channel reached one of them, and the others went on serving the old version under the new
        one's name). Each server loads it beside the serving one and switches only on success: a version
        that fails to load leaves the old one serving there, and the failure is raised with Triton's reason
        and where it loaded, if anywhere."""
        servers = await self._servers()
        if len(servers) == 1:
            await self._load(self._url, model)
            return
        loaded, failed = [], []
        for server in servers:
            try:
                await self._load(server, model)
                loaded.append(server)
            except (BackendUnavailableError, ModelNotReadyError) as exc:
                failed.append(f"{server}: {exc}")
        if failed:
            mixed = f"; loaded on {', '.join(loaded)}: the servers now serve different versions" if loaded else ""
            why = "; ".join(failed)
            raise ModelNotReadyError(f"could not load {model!r} on every Triton server: {why}{mixed}")

    def _admin(self, server: str) -> dict[str, dict[str, str]]:
        """The keyword argument that gives a model-repository call to `server` the admin token (`admin_token`); no
        argument without a token, a call that only a Triton started without the restriction takes."""
        token = admin_token(server, self._admin_token)
        return {"headers": {GRPC_ADMIN_HEADER: token}} if token else {}

    async def _load(self, server: str, model: str) -> None:
        """Load `model` on `server` over a client of its own, closed after. On the shared channel any call that
        found Triton unreachable or slow reset it, which closed it and cancelled the load under way: the admin
        endpoint answered a bare 500 (a review)."""
        client = self._grpc.InferenceServerClient(server, channel_args=CHANNEL_ARGS)
        timeout_s = max(self._timeout_s, LOAD_TIMEOUT_S)
        admin = self._admin(server)
        try:
            await client.load_model(model, client_timeout=timeout_s, **admin)
        except Exception as exc:  # InferenceServerException
            if refused(exc):  # Triton answers UNAVAILABLE: it read "is it running?" (a server that was)
                raise load_failed(model, server, refusal(bool(admin))) from None
            if timed_out(exc):
                await self._loaded_meanwhile(client, model, server, timeout_s)
            elif unreachable(exc):
                raise translate(exc, model, server, timeout_s) from None
            else:
                raise load_failed(model, server, str(exc)) from None
        finally:
            await client.close()

    async def _loaded_meanwhile(self, client: Any, model: str, where: str, waited_s: float) -> None:
        """After a load request timed out, what Triton has: it goes on loading, and switched to the new version
        while the gateway kept the old one's metadata (a review). Its repository index says. The newest version
        it tried is READY: adopted (returns). It failed: ModelNotReadyError with Triton's reason, as a load that
        fails at once. Still loading, or no answer: BackendUnavailableError saying so."""
        late = f"Triton at {where} did not finish loading {model!r}: timed out after {waited_s:g} s"
        try:
            index = await client.get_model_repository_index(
                as_json=True, client_timeout=self._timeout_s, **self._admin(where)
            )
        except Exception as exc:  # InferenceServerException
            raise BackendUnavailableError(f"{late}, and did not say what it serves ({status_of(exc)})") from None
        states = {
            int(m["version"]): (m.get("state", ""), m.get("reason", ""))
            for m in index.get("models", [])
            if m.get("name") == model and m.get("version")
        }
        if not states:
            raise BackendUnavailableError(f"{late}, and lists no version of it")
        newest = max(states)
        state, reason = states[newest]
        if state == "READY":
            log.warning("%s, and serves its newest version %d now: adopted", late, newest)
            return
        if state == "UNAVAILABLE":
            raise load_failed(model, where, brief(reason, model))
        serving = ", ".join(str(v) for v, (s, _) in sorted(states.items()) if s == "READY") or "none"
        raise BackendUnavailableError(
            f"{late}: version {newest} is {state.lower() or 'not ready'} (serving: {serving}), and Triton "
            "switches to it once it has loaded; reload again then, for the gateway to follow"
        )

    async def _servers(self, warn: bool = True) -> list[str]:
        """Each server the target names: the addresses of an "ipv4:"/"ipv6:" list, and those a "dns:" name
        resolves to now (a headless Service: one per ready pod); any other target (host:port: one server,
        even where localhost resolves to 127.0.0.1 and ::1) as it is, with no lookup; a name that does not
        resolve now, the target. `warn`: log a name that does not resolve (a reload; not each readiness check,
        which would repeat it every probe)."""
        found = await self._lookup(warn)
        return [self._url] if found is None else found

    async def _lookup(self, warn: bool) -> list[str] | None:
        """`_servers`, with None where the name does not resolve now (a DNS server restarting): the balanced
        channel was reset on it, and its working connections dropped for a channel that could not resolve either
        (a review)."""
        target = self._url
        scheme, _, rest = target.partition(":")
        if scheme in ("ipv4", "ipv6"):
            return rest.split(",")
        if scheme != "dns":
            return [target]
        name = rest[2:].partition("/")[2] if rest.startswith("//") else rest  # dns://[resolver]/host:port
        host, _, port = name.rpartition(":")
        if not host or not port.isdigit():
            return [target]
        try:
            loop = asyncio.get_running_loop()
            found = await loop.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
        except OSError as exc:  # unresolvable now: the one target, whose call names the failure
            if warn:
                log.warning("%s does not resolve now (%s): the load request goes to one server", target, exc)
            return None
        addresses = sorted({str(info[4][0]) for info in found})
        if len(addresses) <= 1:
            return [target]
        return [f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in addresses]

    async def _reset(self, failed: Any = None) -> None:
        """New calls get a fresh channel. The old one is closed only once the calls still in flight on it
        have had their timeout to end: closing it now would cancel them (grpc.aio does), and a cancelled
        call surfaces as a 500 instead of the 503 that names Triton. `failed`: the channel a call failed on,
        replaced only while new calls still get it, so that a burst of failures swaps in one fresh channel."""
        if failed is not None and failed is not self._channel:
            return
        channel, self._channel = self._channel, None
        self._retire(channel)

    def _retire(self, channel: Any) -> None:
        """Close `channel` (if any) once the calls in flight on it have had their timeout (see `_reset`)."""
        if channel is not None:
            task = asyncio.create_task(self._close_later(channel), name="triton-channel-close")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close_later(self, channel: Any) -> None:
        try:
            await asyncio.sleep(self._timeout_s)
        finally:
            await channel.close()

    async def close(self) -> None:
        await self._reset()
        self._drop_probes(set())
        for task in list(self._closing):
            task.cancel()  # the sleep ends; `finally` closes the channel
        await asyncio.gather(*self._closing, return_exceptions=True)


def _wire(model: str, name: str, array: NDArray[Any]) -> NDArray[Any]:
    """The ensemble takes TEXT as [batch, 1] UTF-8 bytes; other tensors go as they are."""
    if model == FINBERT and name == TEXT_INPUT:
        return np.array([[t.encode() if isinstance(t, str) else t] for t in array.reshape(-1)], dtype=object)
    return array
