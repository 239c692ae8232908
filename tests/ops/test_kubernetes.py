"""Kubernetes manifests (deploy/kubernetes/): no cluster here, so every built-in object is validated against
the API schemas that kubernetes-validate ships in its wheel (no network), and what ties them together
(Services to pods, volumes to claims, the gateway to Triton, settings names) is checked by reading them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.backends.triton import CHANNEL_ARGS
from gateway.backends.triton_admin import ADMIN_TOKEN_ENV
from gateway.services.health import READY_DEADLINE_S
from investiq.core.settings import ENV_PREFIX, Settings
from investiq.ops.triton_server import restricted_flags

kubernetes_validate = pytest.importorskip("kubernetes_validate.utils")
ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.30", "1.37")  # the oldest Kubernetes still commonly run and the newest schemas shipped


def documents(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization lists (files and directories), recursively, in order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        assert path.exists(), (directory, entry)
        if path.is_dir():
            objects += documents(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


def by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


PLAIN = by_kind(documents(KUBE))
KSERVE = by_kind(documents(KUBE / "kserve"))


def test_every_manifest_file_is_listed_by_a_kustomization():
    # a manifest no kustomization lists is never applied (`kubectl apply -k`), however valid (an audit: the test
    # compared the folders' files with themselves, and an orphan passed)
    listed = set()
    for kustomization_file in KUBE.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(kustomization_file.read_text())
        assert kustomization["namespace"] == "investiq"
        for entry in kustomization["resources"]:
            resource = (kustomization_file.parent / entry).resolve()
            assert resource.exists(), f"{kustomization_file} lists {entry}, which does not exist"
            listed.add(resource / "kustomization.yaml" if resource.is_dir() else resource)
    manifests = {p.resolve() for p in KUBE.rglob("*.yaml")}
    roots = {(KUBE / "kustomization.yaml").resolve(), (KUBE / "kserve" / "kustomization.yaml").resolve()}
    assert manifests - listed == roots, "manifests no kustomization lists (only the two variants' roots may be)"


BUILTIN = {k: o for k, o in {**PLAIN, **KSERVE}.items() if not o["apiVersion"].startswith("serving.kserve.io/")}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("key", sorted(BUILTIN), ids=lambda k: "/".join(k))
def test_builtin_objects_match_the_kubernetes_schemas(key: tuple[str, str], version: str):
    kubernetes_validate.validate(BUILTIN[key], version, strict=True)  # strict: unknown fields are errors too


def test_the_schema_check_catches_mistakes():
    broken = {**BUILTIN[("Deployment", "gateway")], "spec": {"replicas": "one"}}  # no selector, bad type
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def pod_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = PLAIN[("Deployment", name)]["spec"]["template"]["spec"]
    return spec


def container(name: str) -> dict[str, Any]:
    (only,) = pod_spec(name)["containers"]
    return dict(only)


def test_services_select_their_deployments_pods_on_named_ports():
    for name in ("triton", "gateway"):
        deployment = PLAIN[("Deployment", name)]
        service = PLAIN[("Service", name)]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert service["spec"]["selector"].items() <= labels.items()
        ports = {p["name"] for p in container(name)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_triton_requests_gpus_reports_readiness_and_reads_the_repository_from_a_claim():
    triton = container("triton")
    assert (
        triton["resources"]["requests"]["nvidia.com/gpu"] == triton["resources"]["limits"]["nvidia.com/gpu"] >= 1
    )
    assert PLAIN[("Deployment", "triton")]["spec"]["replicas"] >= 2
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert "--model-config-name=gpu" in triton["args"] and "--model-repository=/models" in triton["args"]
    volumes = {v["name"]: v for v in pod_spec("triton")["volumes"]}
    mounts = {m["mountPath"]: m for m in triton["volumeMounts"]}
    models = volumes[mounts["/models"]["name"]]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", models) in PLAIN and mounts["/models"]["readOnly"]
    assert "/trt-cache" in mounts  # trt_engine_cache_path of the gpu configs


def test_triton_updates_and_drains_one_pod_at_a_time_without_a_spare_gpu():
    """maxSurge 0: a surge pod would need a GPU beyond the replicas' and stay Pending. maxUnavailable 1 below
    the replica count, and a PodDisruptionBudget to match: a replica serves throughout."""
    deployment = PLAIN[("Deployment", "triton")]["spec"]
    assert deployment["strategy"]["type"] == "RollingUpdate"
    assert deployment["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    budget = PLAIN[("PodDisruptionBudget", "triton")]["spec"]
    assert budget["maxUnavailable"] == 1 < deployment["replicas"]
    labels = deployment["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()


def env(name: str) -> dict[str, Any]:
    return {e["name"]: e for e in container(name)["env"]}


def test_the_gateway_reaches_every_triton_pod_through_a_headless_service_with_real_settings():
    variables = env("gateway")
    settings = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    assert {n for n in variables if n.startswith(ENV_PREFIX)} <= settings  # no misspelt setting goes unnoticed
    assert variables["INVESTIQ_BACKEND"]["value"] == "triton"
    target = variables["INVESTIQ_TRITON_URL"]["value"]
    assert target.startswith("dns:///")  # gRPC's DNS resolver: every address of the name
    host, port = target.removeprefix("dns:///").split(":")
    headless = PLAIN[("Service", host)]["spec"]
    assert headless["clusterIP"] == "None"  # one address per pod, not one virtual IP
    assert headless["selector"] == PLAIN[("Service", "triton")]["spec"]["selector"]
    grpc = next(p for p in headless["ports"] if p["name"] == "grpc")
    assert int(port) == grpc["port"] and grpc["targetPort"] == "grpc"
    assert ("grpc.lb_policy_name", "round_robin") in CHANNEL_ARGS  # the channel uses them all
    assert variables["ML_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "ML_API_KEY"
    gateway = container("gateway")
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/health/ready"  # the probes need no API key
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health/live"


def test_the_gateway_runs_unprivileged_as_the_images_user():
    """runAsNonRoot: the kubelet refuses an image that runs as root. fsGroup: the image's group (Dockerfile's
    last USER), for which the kubelet makes the journal volume writable."""
    security = container("gateway")["securityContext"]
    assert security["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False
    # the rest of the "restricted" Pod Security Standard (a security review: it failed it)
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    *_, user = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    uid, _, gid = user.partition(":")
    assert pod_spec("gateway")["securityContext"]["fsGroup"] == int(gid or uid)


def test_the_journal_has_one_writer_host():
    """SQLite: one node writes portfolio.db. ReadWriteOnce, one replica, and Recreate so that an update never
    runs two pods on the volume at once (perhaps on two nodes)."""
    deployment = PLAIN[("Deployment", "gateway")]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    db = Path(env("gateway")["INVESTIQ_DB_PATH"]["value"])
    mounts = {m["mountPath"]: m["name"] for m in container("gateway")["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec("gateway")["volumes"]}
    claim = volumes[mounts[str(db.parent)]]["persistentVolumeClaim"]["claimName"]  # the directory: -wal, -shm
    assert PLAIN[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_kserve_inference_service():
    """No schema ships for KServe's custom resource: its fields are checked here, and its container part
    (args, ports, resources) against the core Container schema."""
    isvc = KSERVE[("InferenceService", "investiq-triton")]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert model["modelFormat"]["name"] == "triton" and model["protocolVersion"] == "grpc-v2"
    assert (
        model["storageUri"] == "pvc://model-repository/"
        and ("PersistentVolumeClaim", "model-repository") in KSERVE
    )
    assert "--model-config-name=gpu" in model["args"]
    # equal: KServe would otherwise scale between them on CPU use, which says little about the GPUs
    assert predictor["minReplicas"] == predictor["maxReplicas"] >= 1
    assert int(model["resources"]["requests"]["nvidia.com/gpu"]) >= 1
    # the plain Triton pod's probes: readiness on the server, and as long for the first engine builds
    plain_triton = container("triton")
    assert model["readinessProbe"]["httpGet"]["path"] == plain_triton["readinessProbe"]["httpGet"]["path"]
    startup, plain_startup = model["startupProbe"], plain_triton["startupProbe"]
    assert startup["httpGet"]["path"] == plain_startup["httpGet"]["path"]
    assert (
        startup["periodSeconds"] * startup["failureThreshold"]
        == plain_startup["periodSeconds"] * plain_startup["failureThreshold"]
    )
    probes = ("startupProbe", "readinessProbe")
    keys = ("image", "args", "env", "ports", "resources", "securityContext", "volumeMounts", *probes)
    fields = {k: model[k] for k in keys}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", **fields}], "volumes": predictor["volumes"]},
    }
    kubernetes_validate.validate(pod, VERSIONS[-1], strict=True)
    (h2c,) = model["ports"]
    assert h2c["name"] == "h2c"  # KServe's name for a gRPC (HTTP/2 cleartext) port
    # what the plain Triton pod mounts beside the repository (KServe mounts that as /mnt/models itself): the
    # gpu configs' TensorRT engine cache and the python backend's shared memory
    plain = PLAIN[("Deployment", "triton")]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    wanted = {m["mountPath"] for m in plain} - {"/models"}
    assert wanted <= {m["mountPath"] for m in model["volumeMounts"]}, wanted


def quantity(text: str | int) -> float:
    """A Kubernetes resource quantity as a number: "500m" is 0.5, "8Gi" 8 * 2**30."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    text = str(text)
    for suffix in sorted(suffixes, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * suffixes[suffix]
    return float(text)


# KServe's stock ServingRuntime `kserve-tritonserver`: what its container's resources would leave on ours where
# the InferenceService sets none (KServe merges them key by key)
KSERVE_RUNTIME_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


def test_no_container_requests_more_than_its_limit_once_kserve_merges_its_runtime():
    """The InferenceService asked 4 CPUs and set no cpu limit: merged over the stock runtime's limit of 1, a pod
    the API server refuses ("must be less than or equal to cpu limit"), and the predictor never ran (a review)."""
    model = KSERVE[("InferenceService", "investiq-triton")]["spec"]["predictor"]["model"]
    merged = {
        kind: KSERVE_RUNTIME_RESOURCES[kind] | model["resources"].get(kind, {}) for kind in ("requests", "limits")
    }
    containers = [("kserve predictor", merged)] + [
        (c["name"], c.get("resources", {}))
        for o in PLAIN.values()
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    for name, resources in containers:
        for resource, asked in resources.get("requests", {}).items():
            limit = resources.get("limits", {}).get(resource)
            assert limit is None or quantity(asked) <= quantity(limit), (name, resource, asked, limit)


# What KServe's raw deployment puts on the predictor's pods (pkg/constants: InferenceServicePodLabelKey and
# KServiceComponentLabel, set by the predictor reconciler whatever the version; `app` is not: its value changed).
KSERVE_POD_LABELS = {"serving.kserve.io/inferenceservice": "investiq-triton", "component": "predictor"}


def test_kserve_points_the_gateway_at_every_predictor_pod():
    """Through KServe's one ClusterIP Service (investiq-triton-predictor:80) a reload reached one predictor pod,
    the other kept serving the old version, and one gateway's calls stuck to one pod: a headless Service over
    the predictor pods, as the plain variant's triton-pods, and gRPC's DNS resolver."""
    kustomization = yaml.safe_load((KUBE / "kserve" / "kustomization.yaml").read_text())
    (patch,) = kustomization["patches"]
    assert patch["target"] == {"kind": "Deployment", "name": "gateway"}
    (op,) = yaml.safe_load(patch["patch"])
    index = int(op["path"].rsplit("/", 1)[-1])
    assert container("gateway")["env"][index]["name"] == op["value"]["name"] == "INVESTIQ_TRITON_URL"
    target = op["value"]["value"]
    assert target.startswith("dns:///")  # every address of the name
    host, port = target.removeprefix("dns:///").split(":")
    headless = KSERVE[("Service", host)]["spec"]
    assert headless["clusterIP"] == "None"  # one address per pod, not one virtual IP
    isvc = KSERVE[("InferenceService", "investiq-triton")]
    assert headless["selector"] == KSERVE_POD_LABELS
    assert KSERVE_POD_LABELS["serving.kserve.io/inferenceservice"] == isvc["metadata"]["name"]
    (h2c,) = isvc["spec"]["predictor"]["model"]["ports"]
    (grpc,) = headless["ports"]
    # a headless name resolves to the pods themselves: the client connects to the container's port
    assert int(port) == grpc["port"] == h2c["containerPort"] and grpc["targetPort"] == h2c["name"]
    assert isvc["spec"]["predictor"]["minReplicas"] >= 2  # what there is to balance and reload on


def probes() -> list[tuple[str, str, dict[str, Any]]]:
    """(container, probe name, probe) of every container of both variants, the InferenceService's model too."""
    containers = [
        (c["name"], c)
        for objects in (PLAIN, KSERVE)
        for o in objects.values()
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    containers.append(
        ("kserve-model", KSERVE[("InferenceService", "investiq-triton")]["spec"]["predictor"]["model"])
    )
    return [(name, key, c[key]) for name, c in containers for key in c if key.endswith("Probe")]


def test_every_probe_says_its_timeout_and_the_gateway_answers_within_it():
    """/health/ready waited the backend's whole triton_timeout_s (5 s) on a hung Triton while the kubelet gave
    up after 1 s (timeoutSeconds unset): it now bounds Triton's answers by READY_DEADLINE_S, and every probe
    says how long it waits."""
    found = probes()
    assert {(n, k) for n, k, _ in found} >= {("gateway", "readinessProbe"), ("kserve-model", "readinessProbe")}
    for name, key, probe in found:
        assert isinstance(probe.get("timeoutSeconds"), int), (name, key)
    ready = container("gateway")["readinessProbe"]
    assert ready["timeoutSeconds"] >= 2 * READY_DEADLINE_S


def test_a_triton_pod_stopping_serves_until_the_gateway_sends_it_no_more():
    """A Triton sent SIGTERM keeps its gRPC port open and answers "unknown model" while it unloads: a drain gave
    90 of 1,658 requests a 503 (an audit). Both variants sleep before SIGTERM, for longer than the gateway's
    readiness check takes to look the headless name up again (its period) and the DNS answer's 5 s, and give the
    pod time for the sleep and Triton's 30 s exit timeout after it."""
    isvc = KSERVE[("InferenceService", "investiq-triton")]["spec"]["predictor"]
    pods = [("triton", pod_spec("triton"), container("triton")), ("kserve-model", isvc, isvc["model"])]
    check_period = container("gateway")["readinessProbe"]["periodSeconds"]
    for name, pod, triton in pods:
        command = triton["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep", name
        sleep_s = int(command[1])
        assert sleep_s >= check_period + 5, name
        assert pod["terminationGracePeriodSeconds"] >= sleep_s + 30, name
    lifecycle = {"lifecycle": isvc["model"]["lifecycle"]}  # what KServe puts on its predictor container
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    grace = {"terminationGracePeriodSeconds": isvc["terminationGracePeriodSeconds"]}
    spec = {"containers": [{"name": "c", "image": "i", **lifecycle}], **grace}
    kubernetes_validate.validate(pod | {"spec": spec}, VERSIONS[-1], strict=True)


def kserve_model() -> dict[str, Any]:
    model: dict[str, Any] = KSERVE[("InferenceService", "investiq-triton")]["spec"]["predictor"]["model"]
    return model


def tritons() -> list[tuple[str, dict[str, Any]]]:
    """The Triton container of each variant: the plain Deployment's, the InferenceService's model."""
    return [("triton", container("triton")), ("kserve-model", kserve_model())]


def test_triton_wants_the_admin_token_that_the_gateway_sends():
    """Triton's model-repository API ran whatever model files a load request carried, for any pod of the cluster
    (an audit): both variants take those calls only with the admin token of one secret, which the gateway (both
    variants', base/) has too. The kubelet puts the variable's value in the arguments ($(VAR))."""
    flags = restricted_flags(f"$({ADMIN_TOKEN_ENV})")
    secret = env("gateway")[ADMIN_TOKEN_ENV]["valueFrom"]["secretKeyRef"]
    for name, triton in tritons():
        assert [a for a in triton["args"] if "restricted" in a] == flags, name
        variables = {e["name"]: e for e in triton["env"]}
        assert variables[ADMIN_TOKEN_ENV]["valueFrom"]["secretKeyRef"] == secret, name
    assert "ML_API_KEY" not in {e["name"] for _, t in tritons() for e in t["env"]}  # Triton never had the key


def test_triton_runs_without_capabilities_or_privilege_escalation():
    """Root (NVIDIA's image; no other user was tried), but with no capability, no way to gain privileges, and the
    runtime's default seccomp profile."""
    for name, triton in tritons():
        security = triton["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert security.get("privileged") is not True, name


def port_number(ports: list[dict[str, Any]], port: int | str) -> int:
    """A NetworkPolicy's port, named or numbered, as the container's port number."""
    return int(next(p["containerPort"] for p in ports if port in (p["name"], p["containerPort"])))


def allowed(policy: dict[str, Any], ports: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Each container port the policy opens, with who may reach it (its `from` peers)."""
    opened: dict[int, list[dict[str, Any]]] = {}
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from") and rule.get("ports"), rule  # no rule opens a port to everyone, or every port
        for port in rule["ports"]:
            assert port.get("protocol", "TCP") == "TCP" and "endPort" not in port, port
            opened.setdefault(port_number(ports, port["port"]), []).extend(rule["from"])
    return opened


def test_only_the_gateway_reaches_triton_and_prometheus_only_its_metrics():
    """Triton's ports were open to every pod of the cluster (an audit). Each variant's NetworkPolicy selects its
    Triton pods and lets in the gateway's pods (this namespace only), on the gRPC port the gateway's target names;
    the plain variant also Prometheus, on the port its scrape annotations name. Nothing else: the HTTP port (the
    model-repository API's other door) is reached by no pod, the kubelet's probes coming from the node."""
    gateway = PLAIN[("Deployment", "gateway")]["spec"]["template"]["metadata"]["labels"]
    only_gateway = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}]
    assert only_gateway[0]["podSelector"]["matchLabels"].items() <= gateway.items()

    plain = PLAIN[("NetworkPolicy", "triton")]
    template = PLAIN[("Deployment", "triton")]["spec"]["template"]
    assert plain["spec"]["podSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert plain["spec"]["policyTypes"] == ["Ingress"]
    ports = container("triton")["ports"]
    grpc = int(env("gateway")["INVESTIQ_TRITON_URL"]["value"].rsplit(":", 1)[1])
    metrics = int(template["metadata"]["annotations"]["prometheus.io/port"])
    opened = allowed(plain, ports)
    assert opened.keys() == {grpc, metrics} and port_number(ports, "http") not in opened
    assert opened[grpc] == only_gateway
    (prometheus,) = opened[metrics]
    assert prometheus["namespaceSelector"] == {} and prometheus["podSelector"]["matchLabels"]

    kserve = KSERVE[("NetworkPolicy", "investiq-triton")]
    assert kserve["spec"]["podSelector"]["matchLabels"] == KSERVE_POD_LABELS
    assert kserve["spec"]["policyTypes"] == ["Ingress"]
    kustomization = yaml.safe_load((KUBE / "kserve" / "kustomization.yaml").read_text())
    (op,) = yaml.safe_load(kustomization["patches"][0]["patch"])
    target = int(op["value"]["value"].rsplit(":", 1)[1])  # the port the gateway calls there
    assert allowed(kserve, kserve_model()["ports"]) == {target: only_gateway}
