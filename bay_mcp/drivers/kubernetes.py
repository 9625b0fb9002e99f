"""The Kubernetes driver, over the API server with kubernetes-asyncio.

A session is a Pod (container id = the Pod's name), with a NetworkPolicy of the same
name; a cargo is a PVC; Ship is reached by the Pod's IP. Everything lives in one
namespace (`KubernetesSettings.namespace`), and the manifests are built in
`kubernetes_manifests`. Configuration is loaded on first use: in-cluster when Bay runs
in a Pod, else the kubeconfig file.

Kubernetes cannot inspect images: `image_id` answers the reference it is given, so a
profile's image counts as present (a Pod whose image cannot be pulled ends its start
as "exited", with the reason in its logs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import aiohttp
from kubernetes_asyncio.client import (
    ApiClient,
    Configuration,
    CoreV1Api,
    NetworkingV1Api,
    V1Pod,
    VersionApi,
)
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config

from bay_mcp.drivers import (
    ContainerInfo,
    ContainerSpec,
    DriverError,
    EngineUnavailable,
    ImageMissing,
    VolumeCopy,
)
from bay_mcp.drivers.kubernetes_manifests import (
    POD_LABEL,
    copy_pod_manifest,
    label_selector,
    labels_of,
    network_policy_manifest,
    object_name,
    pod_manifest,
    pvc_manifest,
)
from bay_mcp.drivers.kubernetes_pods import (
    ENDED_PHASES,
    FATAL_WAITING,
    IMAGE_WAITING,
    pod_info,
    pod_state,
    pod_waiting,
)
from bay_mcp.drivers.undo import created_or_undone
from bay_mcp.errors import Timeout
from bay_mcp.settings import KubernetesSettings

log = logging.getLogger(__name__)

# Every API call has a deadline: a hung API server must not hang a request.
REQUEST_TIMEOUT_S = 30.0
# Answers that mean "try again shortly", not "refused".
_RETRYABLE = {429, 502, 503, 504}


@contextmanager
def _answers(what: str) -> Iterator[None]:
    """Turn the client's exceptions into Bay's: no answer is retryable, a refusal not."""
    try:
        yield
    except ApiException as exc:
        raise _api_error(what, exc) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> EngineUnavailable:
    return EngineUnavailable(
        f"the Kubernetes API server does not answer ({exc or type(exc).__name__}); calls "
        "work again once it is back",
        {"retry_after_ms": 2000},
    )


def _status_message(body: object) -> str | None:
    """The message of a Status answer (the API's errors), if `body` is one."""
    try:
        status = json.loads(body) if isinstance(body, (str, bytes)) else None
    except ValueError:
        return None
    message = status.get("message") if isinstance(status, dict) else None
    return str(message) if message else None


def _message(exc: ApiException) -> str:
    """The API's own words: the Status body's message, else the HTTP reason."""
    return _status_message(exc.body) or str(exc.reason or f"HTTP {exc.status}")


def _api_error(what: str, exc: ApiException) -> DriverError | EngineUnavailable:
    if exc.status in _RETRYABLE:
        return EngineUnavailable(
            f"{what}: the Kubernetes API server is busy ({exc.status}: {_message(exc)})",
            {"retry_after_ms": 2000},
        )
    return DriverError(f"{what}: {_message(exc)} ({exc.status})")


def _body(manifest: dict[str, Any]) -> Any:
    """A manifest as a request body: the client sends a dict as it is (its stubs ask for
    models, which would only be serialised back into the same dict)."""
    return manifest


class KubernetesDriver:
    """Sessions as Pods, cargos as PVCs, networks as NetworkPolicies, in one namespace.

    `configuration`: a ready client configuration (tests), instead of loading one."""

    # A claim is ReadWriteOnce: a second Pod on another node could not mount it.
    shares_volumes = False
    # A Pod cannot be frozen through the API: idle sessions stop instead.
    can_pause = False

    def __init__(
        self,
        settings: KubernetesSettings,
        *,
        configuration: Configuration | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self._settings = settings
        self._namespace = settings.namespace
        self._configuration = configuration
        # The longest pause between two looks at a copy helper.
        self._poll_interval = poll_interval
        self._client: ApiClient | None = None
        self._connecting = asyncio.Lock()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _api(self) -> ApiClient:
        async with self._connecting:
            if self._client is None:
                configuration = self._configuration or await self._load_configuration()
                self._client = ApiClient(configuration=configuration)
            return self._client

    async def _load_configuration(self) -> Configuration:
        configuration = Configuration()
        if self._settings.kubeconfig is None:
            try:
                # Reads the service account's token and CA that a Pod is given.
                load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                return configuration
            except ConfigException as exc:
                # Not in a Pod: the kubeconfig file ($KUBECONFIG or ~/.kube/config).
                log.debug("no in-cluster configuration (%s): using the kubeconfig", exc)
        config_file = str(self._settings.kubeconfig) if self._settings.kubeconfig else None
        try:
            await load_kube_config(
                config_file=config_file,
                context=self._settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, ValueError) as exc:
            raise DriverError(
                f"no Kubernetes configuration: not in a Pod, and the kubeconfig "
                f"({config_file or 'the default one'}) cannot be used: {exc}; set "
                "BAY_KUBERNETES__KUBECONFIG"
            ) from exc
        return configuration

    async def _core(self) -> CoreV1Api:
        return CoreV1Api(await self._api())

    async def _networking(self) -> NetworkingV1Api:
        return NetworkingV1Api(await self._api())

    async def ping(self) -> str:
        """The API server's version (e.g. v1.30.2); EngineUnavailable when it does not
        answer, DriverError when it refuses."""
        with _answers("asking the Kubernetes API server's version"):
            version = await VersionApi(await self._api()).get_code(
                _request_timeout=REQUEST_TIMEOUT_S
            )
            return str(version.git_version)

    async def image_id(self, image: str) -> str | None:
        # Kubernetes has no API to inspect an image: the reference stands for itself,
        # and a missing image shows when a Pod cannot pull it.
        return image

    async def create_volume(self, name: str, labels: dict[str, str]) -> None:
        manifest = pvc_manifest(name, labels, self._settings)
        with _answers(f"creating PVC {name}"):
            try:
                await (await self._core()).create_namespaced_persistent_volume_claim(
                    self._namespace, _body(manifest), _request_timeout=REQUEST_TIMEOUT_S
                )
            except ApiException as exc:
                # As Docker's volume create: an existing volume of that name is used.
                if exc.status != 409:
                    raise
                log.info("PVC %s exists already: using it", name)

    async def remove_volume(self, name: str) -> None:
        """Delete the PVC; no error if it is gone. Kubernetes keeps it (Terminating)
        until no Pod mounts it."""
        with _answers(f"removing PVC {name}"):
            try:
                await (await self._core()).delete_namespaced_persistent_volume_claim(
                    object_name(name), self._namespace, _request_timeout=REQUEST_TIMEOUT_S
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise

    async def list_volumes(self, labels: dict[str, str]) -> list[str]:
        with _answers("listing PVCs"):
            found = await (await self._core()).list_namespaced_persistent_volume_claim(
                self._namespace,
                label_selector=label_selector(labels),
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        return [str(claim.metadata.name) for claim in found.items]

    async def volume_created_at(self, name: str) -> datetime | None:
        with _answers(f"reading PVC {name}"):
            try:
                claim = await (await self._core()).read_namespaced_persistent_volume_claim(
                    object_name(name), self._namespace, _request_timeout=REQUEST_TIMEOUT_S
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
        created: datetime | None = claim.metadata.creation_timestamp
        return created

    async def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create the session's NetworkPolicy, then its Pod (never a Pod without its
        policy); on any failure, remove both. The Pod is usually still starting.

        DriverError for network "egress", before anything is created: Bay does not yet
        register sandboxes with an egress proxy on Kubernetes, and a proxied sandbox
        must never start with open egress instead."""
        if spec.network == "egress":
            raise DriverError(
                "this profile's egress (an allowlist, deny rules or bound secrets) needs "
                "the egress proxy, which the Kubernetes driver does not run yet: its "
                "manifests are rendered by bay_mcp.drivers.kubernetes_egress."
                "egress_manifests (docs/kubernetes.md#egress-allowlists), but Bay does not "
                "register sandboxes with it. Use a profile whose egress is open without "
                "deny rules, or none"
            )
        policy = network_policy_manifest(spec.name, spec.labels, spec.network, self._settings)
        pod = await self._create_pod(pod_manifest(spec, self._settings), policy)
        return pod_info(pod)

    async def _create_pod(self, manifest: dict[str, Any], policy: dict[str, Any]) -> V1Pod:
        name = manifest["metadata"]["name"]
        with _answers(f"creating NetworkPolicy {name}"):
            networking = await self._networking()
            await created_or_undone(
                networking.create_namespaced_network_policy(
                    self._namespace, _body(policy), _request_timeout=REQUEST_TIMEOUT_S
                ),
                lambda _: self._remove_policy(name),
                f"NetworkPolicy {name}",
            )
        try:
            with _answers(f"creating Pod {name}"):
                core = await self._core()
                return await created_or_undone(
                    core.create_namespaced_pod(
                        self._namespace, _body(manifest), _request_timeout=REQUEST_TIMEOUT_S
                    ),
                    lambda _: self.remove_container(name),
                    f"Pod {name}",
                )
        except BaseException as exc:
            if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 409:
                # A Pod of that name is not this call's to remove.
                await asyncio.shield(self._remove_policy(name))
            else:
                # A create that failed late (or was cancelled) may still have made it.
                await asyncio.shield(self.remove_container(name))
            raise

    async def inspect(self, container_id: str) -> ContainerInfo:
        pod = await self._read_pod(container_id)
        if pod is None:
            return ContainerInfo(id=container_id, name="", state="missing")
        return pod_info(pod)

    async def _read_pod(self, name: str) -> V1Pod | None:
        """The Pod, or None when it does not exist."""
        with _answers(f"reading Pod {name}"):
            try:
                return await (await self._core()).read_namespaced_pod(
                    name, self._namespace, _request_timeout=REQUEST_TIMEOUT_S
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    async def pause_container(self, container_id: str) -> None:
        raise DriverError("Kubernetes cannot pause a Pod: idle sandboxes are stopped instead")

    async def unpause_container(self, container_id: str) -> None:
        return None  # never paused

    async def remove_container(self, container_id: str) -> None:
        """Delete the Pod at once (grace period 0: its processes are killed, not asked
        to stop) and then its NetworkPolicy; no error for either being gone."""
        with _answers(f"removing Pod {container_id}"):
            try:
                await (await self._core()).delete_namespaced_pod(
                    container_id,
                    self._namespace,
                    grace_period_seconds=0,
                    _request_timeout=REQUEST_TIMEOUT_S,
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
        await self._remove_policy(container_id)

    async def _remove_policy(self, name: str) -> None:
        with _answers(f"removing NetworkPolicy {name}"):
            try:
                await (await self._networking()).delete_namespaced_network_policy(
                    name, self._namespace, _request_timeout=REQUEST_TIMEOUT_S
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise

    async def logs(self, container_id: str, tail: int = 50) -> str:
        """The last `tail` lines of the Pod's log; when there is none (not started, or
        gone), a line saying why."""
        try:
            return await self._log(container_id, tail)
        except EngineUnavailable:
            raise
        except DriverError as exc:
            pod = await self._read_pod(container_id)
            reason = pod_waiting(pod) if pod is not None else None
            return f"(no logs: {reason or exc.message})"

    async def _log(self, name: str, tail: int) -> str:
        # Read raw: the client would parse a log that happens to be JSON as JSON.
        with _answers(f"reading the log of Pod {name}"):
            # Unparsed, the answer is aiohttp's response (the stubs know only parsed ones).
            response: Any = await (await self._core()).read_namespaced_pod_log(
                name,
                self._namespace,
                _preload_content=False,
                tail_lines=tail,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
            try:
                body: bytes = await response.read()
            finally:
                response.release()
        text = body.decode("utf-8", errors="replace")
        if not 200 <= response.status < 300:
            message = _status_message(text) or text
            raise DriverError(f"reading the log of Pod {name}: {message} ({response.status})")
        return text

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        """The Pods with `labels`, and, as exited containers, NetworkPolicies with them
        whose Pod is gone (a start interrupted between the two): the reaper removes
        both through remove_container."""
        selector = label_selector(labels)
        with _answers("listing Pods"):
            pods = await (await self._core()).list_namespaced_pod(
                self._namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_S
            )
        with _answers("listing NetworkPolicies"):
            policies = await (await self._networking()).list_namespaced_network_policy(
                self._namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_S
            )
        found = [pod_info(pod) for pod in pods.items]
        names = {info.id for info in found}
        for policy in policies.items:
            metadata = policy.metadata
            if metadata.name not in names:
                found.append(
                    ContainerInfo(
                        id=metadata.name,
                        name=metadata.name,
                        state="exited",
                        labels=labels_of(metadata.labels, metadata.annotations),
                        created_at=metadata.creation_timestamp,
                    )
                )
        return found

    async def copy_volume(
        self,
        source: str,
        target: str,
        *,
        image: str,
        labels: dict[str, str],
        replace: bool = False,
        timeout: float,
    ) -> VolumeCopy:
        """Copy with a helper Pod (no network: a deny-all NetworkPolicy), on the node
        where a Pod mounts either volume, if one does (ReadWriteOnce)."""
        name = f"bay-copy-{secrets.token_hex(6)}"
        started = time.monotonic()
        manifest = copy_pod_manifest(
            name,
            source,
            target,
            image=image,
            labels=labels,
            replace=replace,
            timeout=timeout,
            settings=self._settings,
            node=await self._node_mounting({source, target}),
        )
        policy = network_policy_manifest(name, labels, "none", self._settings, admit_bay=False)
        await self._create_pod(manifest, policy)
        try:
            try:
                async with asyncio.timeout(timeout):
                    pod = await self._wait_ended(name, image)
            except TimeoutError as exc:
                raise Timeout(
                    f"copying volume {source} to {target} took more than {timeout:g} s and "
                    "was stopped"
                ) from exc
            # Its last line is the size; errors, if any, come before it.
            out = (await self._log(name, tail=50)).strip()
            _, exit_code = pod_state(pod)
            if pod.status.phase != "Succeeded" or exit_code not in (0, None):
                raise DriverError(
                    f"copying volume {source} to {target} failed (exit {exit_code}): "
                    f"{out[-500:] or pod.status.reason or pod.status.phase}"
                )
        finally:
            await asyncio.shield(self.remove_container(name))
        lines = out.splitlines()
        size = int(lines[-1]) if lines and lines[-1].isdigit() else 0
        return VolumeCopy(size_bytes=size, seconds=time.monotonic() - started)

    async def _wait_ended(self, name: str, image: str) -> V1Pod:
        """Poll the helper until it ends (the caller holds the deadline)."""
        pause = min(0.1, self._poll_interval)
        while True:
            pod = await self._read_pod(name)
            if pod is None:
                raise DriverError(f"the volume copy's Pod {name} was deleted before it ended")
            if pod.status is not None and pod.status.phase in ENDED_PHASES:
                return pod
            waiting = pod_waiting(pod)
            reason = waiting.split(":")[0] if waiting else None
            if reason in IMAGE_WAITING:
                raise ImageMissing(
                    f"the image {image} (which copies volumes) cannot be pulled: {waiting}"
                )
            if reason in FATAL_WAITING:
                raise DriverError(f"the volume copy's Pod {name} cannot start: {waiting}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._poll_interval)

    async def _node_mounting(self, claims: set[str]) -> str | None:
        """The node of a live Pod of Bay's that mounts one of `claims`, if any."""
        with _answers("listing Pods"):
            found = await (await self._core()).list_namespaced_pod(
                self._namespace, label_selector=POD_LABEL, _request_timeout=REQUEST_TIMEOUT_S
            )
        for pod in found.items:
            if not pod.spec.node_name or (pod.status and pod.status.phase in ENDED_PHASES):
                continue
            for volume in pod.spec.volumes or []:
                claim = volume.persistent_volume_claim
                if claim is not None and claim.claim_name in claims:
                    return str(pod.spec.node_name)
        return None
