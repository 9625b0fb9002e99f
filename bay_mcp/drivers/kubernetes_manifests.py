"""The Kubernetes objects the Kubernetes driver makes, as plain dicts: pure functions of
a ContainerSpec (or a volume's name) and the settings, tested against the API's models.

- a session is a Pod, non-root from its first instruction, with the cargo's PVC at
  `spec.mount_path` and an emptyDir at /tmp (the image points every cache there);
- its network is a NetworkPolicy of the same name, selecting that Pod only (network
  "egress": out to the egress proxy only, whose objects `kubernetes_egress` builds);
- a cargo (or snapshot) is a PVC;
- a volume copy is a short-lived Pod mounting both PVCs.

Label values must be valid Kubernetes label values (63 characters of
`[A-Za-z0-9._-]`, alphanumeric at both ends), which an owner such as `a@b.c` is not:
such a value is replaced by a readable, hashed one, and every object carries its exact
labels in the annotation `bay.labels`, which is what the driver reads back.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Literal

from bay_mcp.drivers import ContainerSpec, DriverError
from bay_mcp.environment import CA_VARIABLES
from bay_mcp.settings import KubernetesSettings
from ship.egress.protocol import PROXY_HOST, PROXY_PORT

Manifest = dict[str, Any]

# The image's sandbox user (`shipyard`): Ship runs as it from the start, so the Pod
# needs no capability at all (under Docker, Ship starts as root and drops to it).
SANDBOX_UID = 1000
SHIP_CONTAINER = "ship"
COPY_CONTAINER = "copy"
# Every object's exact labels (values not mangled), as JSON.
LABELS_ANNOTATION = "bay.labels"
# The label a session's NetworkPolicy selects its Pod by: the Pod's name.
POD_LABEL = "bay.pod"
# Where a profile's CA bundle is mounted, as under Docker.
CA_PATH = "/etc/ssl/certs/bay-extra-ca.pem"
# The key of the CA bundle's ConfigMap (the key kube-root-ca.crt uses too).
CA_KEY = "ca.crt"
# The egress proxy's Pods (kubernetes_egress builds them), which a proxied session's
# NetworkPolicy selects. Not the instance: a namespace has one proxy, of a fixed name.
PROXY_LABELS = {
    "app.kubernetes.io/name": PROXY_HOST,
    "app.kubernetes.io/component": "egress-proxy",
    "app.kubernetes.io/part-of": "bay-mcp",
}
# The label of a proxied session's Pod: the proxy admits PROXY_PORT from these only.
EGRESS_LABEL = "bay.egress"
EGRESS_LABEL_VALUE = "proxied"
# Local addresses stay direct: Ship ("ship" is 127.0.0.1 in the Pod) and what user
# code serves itself.
NO_PROXY = "localhost,127.0.0.1,::1,ship"
# /tmp is memory-backed, as Docker's tmpfs is: it counts against the memory limit.
TMP_SIZE = "1Gi"
COPY_MEMORY = "256Mi"

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_VALUE_MAX = 63

# The copy helper's script, as the Docker driver's: $1 is "replace" to empty the
# target first. `cp -a` keeps owners, modes, times and links; `du -sb` prints the bytes
# the target then holds, on the last line of the log.
COPY_SCRIPT = """set -eu
if [ "$1" = replace ]; then find /to -mindepth 1 -delete; fi
cp -a /from/. /to/
du -sb /to | cut -f1
"""
# What the copy needs as root and nothing more: to give files their owners (CHOWN),
# read and replace files of any owner and mode (DAC_OVERRIDE, FOWNER), keep set-id
# bits (FSETID). Pod Security "baseline" allows exactly these; "restricted" does not.
COPY_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"]


def object_name(name: str) -> str:
    """`name` when it is a valid Pod, PVC and NetworkPolicy name (a DNS-1123 label, which
    Bay's `bay-sess-…`, `bay-cargo-ws-…` and `bay-snapshot-snap-…` are); DriverError
    otherwise, since a changed name would no longer find the object."""
    if not _NAME.match(name):
        raise DriverError(
            f"{name!r} is not a valid Kubernetes object name (lowercase letters, digits "
            "and '-', at most 63 characters)"
        )
    return name


def label_value(value: str) -> str:
    """`value` when Kubernetes accepts it as a label value; else a readable prefix and a
    hash of it (the same every time, so selectors find it)."""
    if len(value) <= _LABEL_VALUE_MAX and _LABEL_VALUE.match(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", value).strip("_.-")[:40].strip("_.-")
    return f"{readable}-{digest}" if readable else digest


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={label_value(value)}" for key, value in sorted(labels.items()))


def labels_of(labels: dict[str, str] | None, annotations: dict[str, str] | None) -> dict[str, str]:
    """The labels Bay gave an object: the annotation's, else the (valid) label values."""
    exact = (annotations or {}).get(LABELS_ANNOTATION)
    if exact:
        try:
            parsed = json.loads(exact)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return {str(key): str(value) for key, value in parsed.items()}
    return dict(labels or {})


def _metadata(name: str, labels: dict[str, str], extra: dict[str, str] | None = None) -> Manifest:
    return {
        "name": object_name(name),
        "labels": {key: label_value(value) for key, value in {**labels, **(extra or {})}.items()},
        "annotations": {LABELS_ANNOTATION: json.dumps(labels, sort_keys=True)},
    }


def bay_peer(settings: KubernetesSettings) -> Manifest:
    """A NetworkPolicy peer: Bay's Pods, in their namespace when not the sandboxes'."""
    peer: Manifest = {"podSelector": {"matchLabels": dict(settings.bay_pod_labels)}}
    if settings.bay_namespace and settings.bay_namespace != settings.namespace:
        peer["namespaceSelector"] = {
            "matchLabels": {"kubernetes.io/metadata.name": settings.bay_namespace}
        }
    return peer


def proxy_env() -> dict[str, str]:
    """A proxied session's variables: every HTTP client it runs goes through the proxy."""
    url = f"http://{PROXY_HOST}:{PROXY_PORT}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    return {**dict.fromkeys(names, url), "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY}


def _quantities(cpus: float, memory_mb: int, fraction: float) -> Manifest:
    limits = {"cpu": f"{max(1, round(cpus * 1000))}m", "memory": f"{memory_mb}Mi"}
    requests = {
        "cpu": f"{max(1, math.floor(cpus * 1000 * fraction))}m",
        "memory": f"{max(1, math.floor(memory_mb * fraction))}Mi",
    }
    return {"limits": limits, "requests": requests}


def _ca_bundle(spec: ContainerSpec) -> tuple[list[Manifest], list[Manifest], dict[str, str]]:
    """The ConfigMap volume, mount and variables of a profile's CA bundle."""
    if not spec.ca_bundle:
        return [], [], {}
    if not _NAME.match(spec.ca_bundle):
        # A host path means nothing on a cluster's nodes.
        raise DriverError(
            f"ca_bundle {spec.ca_bundle!r}: with the Kubernetes driver, a profile's "
            f"ca_bundle names a ConfigMap in the sandboxes' namespace holding the bundle "
            f"under the key {CA_KEY!r} (not a host path)"
        )
    volume = {"name": "ca-bundle", "configMap": {"name": spec.ca_bundle}}
    mount = {"name": "ca-bundle", "mountPath": CA_PATH, "subPath": CA_KEY, "readOnly": True}
    return [volume], [mount], dict.fromkeys(CA_VARIABLES, CA_PATH)


def pod_manifest(
    spec: ContainerSpec, settings: KubernetesSettings, *, proxy_ip: str | None = None
) -> Manifest:
    """A session's Pod: Ship as uid 1000 from the start, no capability, no privilege
    escalation, RuntimeDefault seccomp, read-only root (per the profile), its limits.

    No pids limit: Kubernetes sets that per node (the kubelet's podPidsLimit), not per
    Pod, so `spec.pids_limit` is not applied. DriverError for a ca_bundle that is not a
    ConfigMap name, and for network "egress" without `proxy_ip` (the egress proxy's
    Service address: the Pod names it in /etc/hosts, as it resolves no name itself)."""
    if spec.network == "egress" and not proxy_ip:
        raise DriverError(
            "a session with network 'egress' needs the egress proxy's Service address"
        )
    if spec.skill_dirs:
        raise DriverError(
            "skill_dirs name host folders, which a Kubernetes pod cannot mount: with the "
            "Kubernetes driver, put the skills in the image (ship/builtin_skills) instead"
        )
    ca_volumes, ca_mounts, ca_env = _ca_bundle(spec)
    env = {**spec.env, **ca_env}
    extra_labels = {POD_LABEL: spec.name}
    host_aliases: list[Manifest] = [{"ip": "127.0.0.1", "hostnames": ["ship"]}]
    if spec.network == "egress" and proxy_ip:
        env.update(proxy_env())
        # The proxy admits sessions by this label (its NetworkPolicy).
        extra_labels[EGRESS_LABEL] = EGRESS_LABEL_VALUE
        # The proxy's name is the Service's address here, not a DNS question: the Pod
        # may not ask DNS anything (see network_policy_manifest).
        host_aliases.append({"ip": proxy_ip, "hostnames": [PROXY_HOST]})
    container: Manifest = {
        "name": SHIP_CONTAINER,
        "image": spec.image,
        "imagePullPolicy": settings.image_pull_policy,
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "ports": [{"name": "ship", "containerPort": spec.port, "protocol": "TCP"}],
        "resources": _quantities(spec.cpus, spec.memory_mb, settings.requests_fraction),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": spec.read_only_root,
            "runAsNonRoot": True,
        },
        "volumeMounts": [
            {"name": "cargo", "mountPath": spec.mount_path},
            # HOME is the cargo; the kernel's runtime files and every cache (pip, uv,
            # npm, IPython, matplotlib: the image's variables) go here instead.
            {"name": "tmp", "mountPath": "/tmp"},
            *ca_mounts,
        ],
    }
    pod_spec: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # Bay removes sessions with grace period 0; this bounds any other deletion.
        "terminationGracePeriodSeconds": 5,
        "securityContext": {
            "runAsUser": SANDBOX_UID,
            "runAsGroup": SANDBOX_UID,
            "runAsNonRoot": True,
            # The PVC's root becomes group 1000 and group-writable, so Ship (which
            # cannot chown as under Docker) can write the cargo; only when it is not
            # already so, since a full recursive change is slow on a large cargo.
            "fsGroup": SANDBOX_UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # `ship` names the sandbox itself, as the Docker driver's extra host does.
        "hostAliases": host_aliases,
        "containers": [container],
        "volumes": [
            {"name": "cargo", "persistentVolumeClaim": {"claimName": object_name(spec.volume)}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": TMP_SIZE}},
            *ca_volumes,
        ],
    }
    if spec.runtime:
        # A RuntimeClass's name (e.g. "gvisor"), not an OCI runtime's as under Docker.
        pod_spec["runtimeClassName"] = spec.runtime
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(spec.name, spec.labels, extra_labels),
        "spec": pod_spec,
    }


def network_policy_manifest(
    name: str,
    labels: dict[str, str],
    network: Literal["bridge", "none", "egress"],
    settings: KubernetesSettings,
    *,
    admit_bay: bool = True,
) -> Manifest:
    """The NetworkPolicy of Pod `name` (same name): ingress from Bay's Pods only (when
    `admit_bay`), egress nowhere (`none`), to the egress proxy's Pods on PROXY_PORT
    only (`egress`) or anywhere but the blocked ranges (`bridge`: the metadata service
    by default). IPv4 only: no IPv6 egress.

    Ingress is on every port: Bay reaches Ship's port, and the ports user code serves
    (expose_port) by the Pod's address."""
    ingress: list[Manifest] = [{"from": [bay_peer(settings)]}] if admit_bay else []
    egress: list[Manifest] = []
    if network == "bridge":
        block: Manifest = {"cidr": "0.0.0.0/0"}
        if settings.blocked_egress_cidrs:
            block["except"] = list(settings.blocked_egress_cidrs)
        egress.append({"to": [{"ipBlock": block}]})
    elif network == "egress":
        # Not even DNS: kube-dns forwards any name to the outside, so a sandbox that may
        # ask it can send data out in its questions, past its allowlist. The sandbox
        # resolves nothing itself: PROXY_HOST is in its /etc/hosts (pod_manifest), and
        # the proxy resolves the hosts it is asked for. Traffic to the Service's
        # ClusterIP matches as traffic to the proxy's Pod: CNIs that enforce policies
        # translate the Service's address first.
        proxy = {"podSelector": {"matchLabels": dict(PROXY_LABELS)}}
        egress.append({"to": [proxy], "ports": [{"protocol": "TCP", "port": PROXY_PORT}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, labels),
        "spec": {
            "podSelector": {"matchLabels": {POD_LABEL: object_name(name)}},
            # Both listed: an empty list then denies, rather than leaving it open.
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def pvc_manifest(name: str, labels: dict[str, str], settings: KubernetesSettings) -> Manifest:
    """A cargo's (or snapshot's) PVC: ReadWriteOnce, the settings' class and size."""
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{settings.default_cargo_size_mb}Mi"}},
    }
    if settings.storage_class is not None:
        spec["storageClassName"] = settings.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(name, labels),
        "spec": spec,
    }


def copy_pod_manifest(
    name: str,
    source: str,
    target: str,
    *,
    image: str,
    labels: dict[str, str],
    replace: bool,
    timeout: float,
    settings: KubernetesSettings,
    node: str | None = None,
) -> Manifest:
    """The volume copy's helper Pod: root with the four capabilities the copy needs,
    `source` read-only at /from, `target` at /to; it ends by itself `timeout` (plus a
    margin) after it starts, even if Bay is gone by then.

    `node`: where a Pod already mounts one of the volumes. ReadWriteOnce volumes are
    attached to one node at a time, so the helper must run there."""
    container: Manifest = {
        "name": COPY_CONTAINER,
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["/bin/sh", "-c", COPY_SCRIPT, "copy", "replace" if replace else "add"],
        "resources": {
            "limits": {"cpu": "1", "memory": COPY_MEMORY},
            "requests": {"cpu": "100m", "memory": COPY_MEMORY},
        },
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": list(COPY_CAPABILITIES)},
            "readOnlyRootFilesystem": True,
        },
        "volumeMounts": [
            {"name": "from", "mountPath": "/from", "readOnly": True},
            {"name": "to", "mountPath": "/to"},
        ],
    }
    pod_spec: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 0,
        "activeDeadlineSeconds": math.ceil(timeout) + 30,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [
            {
                "name": "from",
                "persistentVolumeClaim": {"claimName": object_name(source), "readOnly": True},
            },
            {"name": "to", "persistentVolumeClaim": {"claimName": object_name(target)}},
        ],
    }
    if node is not None:
        # By the node's name (a field), not its hostname label, which may differ; not
        # by nodeName either, which skips the scheduler and so the binding of a new
        # target PVC that waits for its first consumer.
        term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        pod_spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(name, labels, {POD_LABEL: name}),
        "spec": pod_spec,
    }
