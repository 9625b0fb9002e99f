"""A Pod's status read as Bay's container: its state, exit code, address and why it waits."""

from __future__ import annotations

from kubernetes_asyncio.client import V1ContainerStatus, V1Pod

from bay_mcp.drivers import ContainerInfo, ContainerState
from bay_mcp.drivers.kubernetes_manifests import labels_of

# A container waiting for one of these will not start by itself (the kubelet retries
# pulls, but a wrong reference or a missing registry does not mend in a start's time).
IMAGE_WAITING = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
FATAL_WAITING = {*IMAGE_WAITING, "CreateContainerConfigError", "CreateContainerError"}
ENDED_PHASES = {"Succeeded", "Failed"}


# The models' stubs call every field present; the API leaves many out (None), hence
# the checks below that look redundant to a type checker.


def _container_status(pod: V1Pod) -> V1ContainerStatus | None:
    """The status of the Pod's (only) container, once the kubelet reported it."""
    name = pod.spec.containers[0].name
    statuses = (pod.status.container_statuses if pod.status else None) or []
    return next((status for status in statuses if status.name == name), None)


def pod_state(pod: V1Pod) -> tuple[ContainerState, int | None]:
    """A Pod's state as Bay's, and the exit code of its container when it ended."""
    phase = pod.status.phase if pod.status else None
    status = _container_status(pod)
    state = status.state if status is not None else None
    if state is not None and state.terminated is not None:
        return "exited", state.terminated.exit_code
    # A Pod being deleted, ended, or on a node that lost contact (Unknown) will not
    # serve again: Bay makes a new session.
    if pod.metadata.deletion_timestamp is not None or phase in (*ENDED_PHASES, "Unknown"):
        return "exited", None
    if state is not None and state.waiting is not None and state.waiting.reason in FATAL_WAITING:
        return "exited", None
    if phase == "Running" and state is not None and state.running is not None:
        return "running", None
    return "starting", None


def pod_waiting(pod: V1Pod) -> str | None:
    """Why the Pod's container is not running yet, as the kubelet says, if it says."""
    status = _container_status(pod)
    waiting = status.state.waiting if status is not None and status.state else None
    if waiting is None or not waiting.reason:
        return None
    return f"{waiting.reason}: {waiting.message}" if waiting.message else str(waiting.reason)


def _url(address: str, port: int) -> str:
    return f"http://[{address}]:{port}" if ":" in address else f"http://{address}:{port}"


def pod_info(pod: V1Pod) -> ContainerInfo:
    state, exit_code = pod_state(pod)
    address = pod.status.pod_ip if pod.status and state == "running" else None
    ports = pod.spec.containers[0].ports or []
    endpoint = _url(address, ports[0].container_port) if address and ports else None
    return ContainerInfo(
        id=pod.metadata.name,
        name=pod.metadata.name,
        state=state,
        labels=labels_of(pod.metadata.labels, pod.metadata.annotations),
        endpoint=endpoint,
        exit_code=exit_code,
        created_at=pod.metadata.creation_timestamp,
        # The reference, as image_id answers it (Kubernetes inspects no images).
        image_id=pod.spec.containers[0].image,
        address=address,
    )
