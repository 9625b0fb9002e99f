"""The egress proxy's Kubernetes objects, as plain dicts: pure functions of the settings,
beside `kubernetes_manifests` (a session's objects, a proxied one's included).

A proxied session (network "egress": an allowlist, deny rules or bound secrets) may
reach one thing: the proxy's Pods on PROXY_PORT. The proxy is one per namespace, the
sandboxes': a Deployment of one replica running `python -m ship.egress` from Ship's
image, a Service `bay-egress` (PROXY_PORT for sandboxes, CONTROL_PORT for Bay), a
Secret (the control token, the CA) and a NetworkPolicy of its own.

The proxy knows a sandbox by the source address of its connections, so it must see the
sandbox's Pod IP. It does: traffic from one Pod to another (directly, or to a Service's
ClusterIP, which kube-proxy or the CNI translates to the Pod's address) is not
source-NATed inside a cluster; only traffic from outside the Pod range is masqueraded.
"""

from __future__ import annotations

from bay_mcp.drivers.kubernetes_manifests import (
    EGRESS_LABEL,
    EGRESS_LABEL_VALUE,
    PROXY_LABELS,
    Manifest,
    bay_peer,
    label_value,
)
from bay_mcp.settings import BaySettings, KubernetesSettings
from ship.egress.protocol import CONTROL_PORT, PROXY_HOST, PROXY_PORT

# The name of the proxy's Deployment, Service, Secret and NetworkPolicy: the name
# sandboxes reach it by, as under Docker (PROXY_HOST).
PROXY_NAME = PROXY_HOST
PROXY_CONTAINER = "egress"
PROXY_COMMAND = ["/opt/egress/bin/python", "-m", "ship.egress"]
# The image's `shipyard`: the proxy needs no privilege (its ports are above 1024).
PROXY_UID = 1000
# The proxy writes only its confdir (/tmp/egress: the CA, the trusted bundle).
PROXY_TMP_SIZE = "64Mi"
# The Secret's keys.
TOKEN_KEY = "token"
CA_KEY = "ca.pem"
UPSTREAM_CA_KEY = "upstream-ca.pem"
# The proxy's own address, from the downward API: it refuses to connect to itself,
# where its control API listens (a Pod's traffic to itself passes every NetworkPolicy).
POD_IP_VARIABLE = "BAY_EGRESS_POD_IP"
# Where the cluster's DNS answers (CoreDNS keeps kube-dns's label): the proxy resolves
# the hosts sandboxes ask for.
DNS_NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}


def _metadata(settings: KubernetesSettings, instance_id: str | None = None) -> Manifest:
    labels = dict(PROXY_LABELS)
    if instance_id:
        labels["app.kubernetes.io/instance"] = label_value(instance_id)
    return {"name": PROXY_NAME, "namespace": settings.namespace, "labels": labels}


def _tcp(port: int) -> Manifest:
    return {"protocol": "TCP", "port": port}


def deny_ranges(settings: KubernetesSettings) -> str:
    """BAY_EGRESS_DENY: the blocked ranges (so the proxy refuses them with a reason, not
    a timeout) and the proxy's own address, expanded by Kubernetes from POD_IP_VARIABLE."""
    return ",".join([*settings.blocked_egress_cidrs, f"$({POD_IP_VARIABLE})/32"])


def proxy_secret_manifest(
    settings: KubernetesSettings,
    token: str,
    ca_pem: str,
    upstream_ca_pem: str | None = None,
) -> Manifest:
    """The proxy's Secret: the control API's token, the CA (certificate and key, PEM)
    intercepted TLS is signed with, and optionally more CAs to trust upstream."""
    data = {TOKEN_KEY: token, CA_KEY: ca_pem}
    if upstream_ca_pem:
        data[UPSTREAM_CA_KEY] = upstream_ca_pem
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(settings),
        "type": "Opaque",
        "stringData": data,
    }


def _secret_variable(name: str, key: str, *, optional: bool = False) -> Manifest:
    ref: Manifest = {"name": PROXY_NAME, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def proxy_deployment_manifest(settings: BaySettings, image: str) -> Manifest:
    """The proxy: one replica of `python -m ship.egress` from Ship's `image`, as uid
    1000 with no capability, a read-only root and a memory-backed /tmp."""
    kubernetes = settings.kubernetes
    memory = f"{settings.egress.proxy_memory_mb}Mi"
    container: Manifest = {
        "name": PROXY_CONTAINER,
        "image": image,
        "imagePullPolicy": kubernetes.image_pull_policy,
        "command": list(PROXY_COMMAND),
        "env": [
            # Defined first: BAY_EGRESS_DENY refers to it.
            {"name": POD_IP_VARIABLE, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            _secret_variable("BAY_EGRESS_TOKEN", TOKEN_KEY),
            _secret_variable("BAY_EGRESS_CA", CA_KEY),
            _secret_variable("BAY_EGRESS_UPSTREAM_CA", UPSTREAM_CA_KEY, optional=True),
            {"name": "BAY_EGRESS_DENY", "value": deny_ranges(kubernetes)},
            # The image's HOME is the cargo, which this Pod has not.
            {"name": "HOME", "value": "/tmp"},
        ],
        # The control API listens on the Pod's address (its hostname's, which /etc/hosts
        # gives), the proxy on every address.
        "ports": [
            {"name": "proxy", "containerPort": PROXY_PORT, "protocol": "TCP"},
            {"name": "control", "containerPort": CONTROL_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"tcpSocket": {"port": PROXY_PORT}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": PROXY_PORT}, "periodSeconds": 20},
        "resources": {
            "limits": {"cpu": "1", "memory": memory},
            "requests": {"cpu": "100m", "memory": memory},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsUser": PROXY_UID,
            "runAsGroup": PROXY_UID,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": PROXY_TMP_SIZE}}],
    }
    metadata = _metadata(kubernetes, settings.instance_id)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            # Registrations live in the proxy's memory: never two proxies at once, each
            # knowing part of the sandboxes (Bay registers them again with the new one).
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": dict(PROXY_LABELS)},
            "template": {"metadata": {"labels": dict(metadata["labels"])}, "spec": pod_spec},
        },
    }


def proxy_service_manifest(settings: KubernetesSettings) -> Manifest:
    """The proxy's Service: PROXY_PORT for sandboxes, CONTROL_PORT for Bay."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(settings),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(PROXY_LABELS),
            "ports": [
                {"name": "proxy", "port": PROXY_PORT, "targetPort": "proxy", "protocol": "TCP"},
                {
                    "name": "control",
                    "port": CONTROL_PORT,
                    "targetPort": "control",
                    "protocol": "TCP",
                },
            ],
        },
    }


def proxy_network_policy_manifest(settings: KubernetesSettings) -> Manifest:
    """The proxy's NetworkPolicy: PROXY_PORT from proxied sessions only, CONTROL_PORT
    from Bay's Pods only; out to DNS, and to anywhere but the blocked ranges (IPv4)."""
    block: Manifest = {"cidr": "0.0.0.0/0"}
    if settings.blocked_egress_cidrs:
        block["except"] = list(settings.blocked_egress_cidrs)
    sandboxes = {"podSelector": {"matchLabels": {EGRESS_LABEL: EGRESS_LABEL_VALUE}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(settings),
        "spec": {
            "podSelector": {"matchLabels": dict(PROXY_LABELS)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [sandboxes], "ports": [_tcp(PROXY_PORT)]},
                {"from": [bay_peer(settings)], "ports": [_tcp(CONTROL_PORT)]},
            ],
            "egress": [
                # Its own rule: DNS still answers when the cluster's ranges are blocked.
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": DNS_NAMESPACE}
                            },
                            "podSelector": {"matchLabels": dict(DNS_LABELS)},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, _tcp(53)],
                },
                {"to": [{"ipBlock": block}]},
            ],
        },
    }


def egress_manifests(
    settings: BaySettings,
    image: str,
    token: str,
    ca_pem: str,
    upstream_ca_pem: str | None = None,
) -> list[Manifest]:
    """Everything the proxy needs in the sandboxes' namespace, in the order to apply it:
    Secret, NetworkPolicy, Service, Deployment. `image` is Ship's (it carries the
    proxy); `ca_pem` the CA's certificate and key."""
    kubernetes = settings.kubernetes
    return [
        proxy_secret_manifest(kubernetes, token, ca_pem, upstream_ca_pem),
        proxy_network_policy_manifest(kubernetes),
        proxy_service_manifest(kubernetes),
        proxy_deployment_manifest(settings, image),
    ]
