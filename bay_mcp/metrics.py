"""Bay's Prometheus metrics, on a registry of each Bay's own (prometheus-client).

Label values are bounded: states, types, outcomes, task names, route templates,
methods and status codes; never a sandbox, owner or execution id.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

SANDBOX_STATES = ("idle", "starting", "ready", "failed", "expired")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sandboxes = Gauge(
            "bay_sandboxes", "Live sandboxes by state", ["state"], registry=self.registry
        )
        self.sessions_running = Gauge(
            "bay_sessions_running", "Sessions whose container is ready", registry=self.registry
        )
        self.session_start = Histogram(
            "bay_session_start_seconds",
            "From claiming a session to Ship answering its handshake",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.executions = Counter(
            "bay_exec",
            "Executions by type and outcome (success, failure, timeout, error)",
            ["exec_type", "outcome"],
            registry=self.registry,
        )
        self.execution_seconds = Histogram(
            "bay_exec_duration_seconds",
            "Wall time of executions as Bay saw them",
            ["exec_type"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 300),
            registry=self.registry,
        )
        self.reaper_cleaned = Counter(
            "bay_reaper_cleaned",
            "What the reaper removed, by task",
            ["task"],
            registry=self.registry,
        )
        self.history_write_failures = Counter(
            "bay_history_write_failures",
            "Runs whose history entry could not be written (the run itself returned)",
            registry=self.registry,
        )
        self.docker_errors = Counter(
            "bay_docker_errors", "Container engine failures", registry=self.registry
        )
        self.pool_members = Gauge(
            "bay_pool_members",
            "Warm pool members by profile and state (ready, starting)",
            ["profile", "state"],
            registry=self.registry,
        )
        self.pool_claims = Counter(
            "bay_pool_claims",
            "Sandbox creates that asked a profile's warm pool: hit or miss",
            ["profile", "outcome"],
            registry=self.registry,
        )
        self.pauses = Histogram(
            "bay_session_pause_seconds",
            "Pausing an idle sandbox's session, and thawing it for its next call",
            ["action"],
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.egress_requests = Counter(
            "bay_egress_requests",
            "Requests of proxied sandboxes, as the egress proxy decided them",
            ["decision"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "bay_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "bay_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route"],
            registry=self.registry,
        )

    def set_sandbox_counts(self, counts: dict[str, int]) -> None:
        for state in SANDBOX_STATES:
            self.sandboxes.labels(state=state).set(counts.get(state, 0))
        self.sessions_running.set(counts.get("ready", 0))

    def pool_claim_count(self, profile: str, outcome: str) -> int:
        sample = self.registry.get_sample_value(
            "bay_pool_claims_total", {"profile": profile, "outcome": outcome}
        )
        return int(sample or 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
