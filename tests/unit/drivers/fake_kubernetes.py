"""A fake Kubernetes API server: a real HTTP server (aiohttp, on 127.0.0.1) answering
the calls the Kubernetes driver makes, as the real one does, for one namespace.

It keeps Pods, PVCs and NetworkPolicies; answers 404 and 409 with Status bodies;
selects by label; serves Pod logs; and records every (resource, verb) it was asked, in
RBAC's terms, so a test can hold the Role to exactly those. Pods stay Pending until a
test moves them on (`run_pod`, `end_pod`, `wait_pod`), or `on_create` does.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

TOKEN = "fake-token"
VERSION = "v1.30.0-fake"
Object = dict[str, Any]

_CORE = "/api/v1/namespaces/{namespace}"
_NETWORKING = "/apis/networking.k8s.io/v1/namespaces/{namespace}"
_KINDS = {"pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str) -> Object:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _selected(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, equals, value = term.partition("=")
        if not equals:
            if key not in labels:
                return False
        elif labels.get(key) != value:
            return False
    return True


class FakeKubernetes:
    def __init__(self, namespace: str = "bay") -> None:
        self.namespace = namespace
        self.objects: dict[str, dict[str, Object]] = {
            "pods": {},
            "persistentvolumeclaims": {},
            "networkpolicies": {},
        }
        self.logs: dict[str, str] = {}
        # (resource, verb) as RBAC names them, for every call answered or refused.
        self.calls: list[tuple[str, str]] = []
        # (resource, verb) -> the (code, reason) the next such call is answered with.
        self.fail_next: dict[tuple[str, str], tuple[int, str]] = {}
        # (resource, verb) -> an Event the next such call waits for before it is carried
        # out, as an API server carries out a request its client has stopped waiting for.
        self.hold_next: dict[tuple[str, str], asyncio.Event] = {}
        self.held: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        # Called with each Pod as it is created: a test's kubelet.
        self.on_create: Callable[[Object], None] | None = None
        self.created: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._uids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # The server.

    async def start(self) -> None:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/version/", self._version)
        for prefix, resource in (
            (_CORE, "pods"),
            (_CORE, "persistentvolumeclaims"),
            (_NETWORKING, "networkpolicies"),
        ):
            collection = f"{prefix}/{resource}"
            app.router.add_get(collection, self._handler(resource, "list"))
            app.router.add_post(collection, self._handler(resource, "create"))
            app.router.add_get(collection + "/{name}", self._handler(resource, "get"))
            app.router.add_delete(collection + "/{name}", self._handler(resource, "delete"))
        app.router.add_get(_CORE + "/pods/{name}/log", self._handler("pods/log", "get"))
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def kubeconfig(self) -> str:
        return f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {self.url}
users:
- name: bay
  user:
    token: {TOKEN}
contexts:
- name: fake
  context:
    cluster: fake
    user: bay
    namespace: {self.namespace}
current-context: fake
"""

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "major": "1",
                "minor": "30",
                "gitVersion": VERSION,
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2024-01-01T00:00:00Z",
                "goVersion": "go1.22",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    def _handler(self, resource: str, verb: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.calls.append((resource, verb))
            if request.match_info["namespace"] != self.namespace:
                return web.json_response(
                    status_body(403, "Forbidden", "other namespace"), status=403
                )
            failure = self.fail_next.pop((resource, verb), None)
            if failure is not None:
                code, reason = failure
                body = status_body(code, reason, f"injected {reason}")
                return web.json_response(body, status=code)
            hold = self.hold_next.pop((resource, verb), None)
            if hold is not None:
                self.held.put_nowait((resource, verb))
                await hold.wait()
            method = getattr(self, f"_{verb}_{resource.replace('/', '_')}", None)
            if method is not None:
                answer: web.StreamResponse = await method(request)
                return answer
            generic: web.StreamResponse = await getattr(self, f"_{verb}")(request, resource)
            return generic

        return handle

    # Generic verbs.

    async def _list(self, request: web.Request, resource: str) -> web.Response:
        selector = request.query.get("labelSelector", "")
        items = [
            item
            for item in self.objects[resource].values()
            if _selected(item["metadata"].get("labels") or {}, selector)
        ]
        kind = _KINDS.get(resource, "NetworkPolicy")
        return web.json_response(
            {"kind": f"{kind}List", "metadata": {"resourceVersion": "1"}, "items": items}
        )

    async def _create(self, request: web.Request, resource: str) -> web.Response:
        body: Object = await request.json()
        name = body["metadata"]["name"]
        if name in self.objects[resource]:
            message = f'{resource} "{name}" already exists'
            return web.json_response(status_body(409, "AlreadyExists", message), status=409)
        body["metadata"].update(
            namespace=self.namespace,
            uid=f"uid-{next(self._uids)}",
            resourceVersion="1",
            creationTimestamp=_now(),
        )
        if resource == "pods":
            body["status"] = {"phase": "Pending"}
            body["spec"].setdefault("nodeName", None)
        elif resource == "persistentvolumeclaims":
            body["status"] = {"phase": "Pending"}
        self.objects[resource][name] = body
        if resource == "pods" and self.on_create is not None:
            self.on_create(body)
        self.created.put_nowait((resource, name))
        return web.json_response(body, status=201)

    async def _get(self, request: web.Request, resource: str) -> web.Response:
        found = self.objects[resource].get(request.match_info["name"])
        if found is None:
            return self._missing(resource, request.match_info["name"])
        return web.json_response(found)

    async def _delete(self, request: web.Request, resource: str) -> web.Response:
        found = self.objects[resource].pop(request.match_info["name"], None)
        if found is None:
            return self._missing(resource, request.match_info["name"])
        if resource == "networkpolicies":  # as the real one: a Status, not the object
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        return web.json_response(found)

    def _missing(self, resource: str, name: str) -> web.Response:
        return web.json_response(
            status_body(404, "NotFound", f'{resource} "{name}" not found'), status=404
        )

    async def _get_pods_log(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pod = self.objects["pods"].get(name)
        if pod is None:
            return self._missing("pods", name)
        statuses = pod["status"].get("containerStatuses") or []
        if not any("running" in s["state"] or "terminated" in s["state"] for s in statuses):
            container = pod["spec"]["containers"][0]["name"]
            message = f'container "{container}" in pod "{name}" is waiting to start'
            return web.json_response(status_body(400, "BadRequest", message), status=400)
        lines = self.logs.get(name, "").splitlines(keepends=True)
        tail = request.query.get("tailLines")
        if tail is not None:
            lines = lines[-int(tail) :] if int(tail) else []
        return web.Response(text="".join(lines), content_type="text/plain")

    # A test's kubelet.

    def _container_status(self, pod: Object, state: Object) -> Object:
        container = pod["spec"]["containers"][0]
        return {
            "name": container["name"],
            "image": container["image"],
            "imageID": "",
            "ready": "running" in state,
            "restartCount": 0,
            "started": "running" in state,
            "state": state,
        }

    def run_pod(self, name: str, ip: str = "10.1.2.3", node: str = "node-1") -> None:
        pod = self.objects["pods"][name]
        pod["spec"]["nodeName"] = node
        pod["status"] = {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "containerStatuses": [self._container_status(pod, {"running": {"startedAt": _now()}})],
        }

    def end_pod(self, name: str, exit_code: int, log: str = "") -> None:
        pod = self.objects["pods"][name]
        pod["spec"]["nodeName"] = pod["spec"].get("nodeName") or "node-1"
        terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}
        pod["status"] = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [self._container_status(pod, {"terminated": terminated})],
        }
        self.logs[name] = log

    def wait_pod(self, name: str, reason: str, message: str) -> None:
        pod = self.objects["pods"][name]
        waiting = {"waiting": {"reason": reason, "message": message}}
        pod["status"] = {
            "phase": "Pending",
            "containerStatuses": [self._container_status(pod, waiting)],
        }

    async def next_created(self, resource: str) -> str:
        """The name of the next object of `resource` created (the caller sets a deadline)."""
        while True:
            kind, name = await self.created.get()
            if kind == resource:
                return name
