"""A release's health figures, computed as upstream Shipyard Neo computes them: the
success and error rates and p95 duration of the runs tagged `release:<id>` over the
release's window, against those of the release before it (or, when that one has no
runs, the figures its last evaluation's JSON report gives)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Upstream's policy: roll back when the success rate drops by more than 3 points, or
# the error rate more than doubles.
SUCCESS_DROP_THRESHOLD = 0.03
ERROR_RATE_MULTIPLIER_THRESHOLD = 2.0
# Upstream's stand-in for "infinitely worse" when the baseline had no errors.
_NO_BASELINE_ERRORS = 1_000_000.0


@dataclass(frozen=True)
class RunFigures:
    samples: int
    success_rate: float
    error_rate: float
    p95_duration: int


NO_RUNS = RunFigures(0, 0.0, 0.0, 0)
# Nothing to compare with: the baseline is perfect, as upstream assumes.
PERFECT = RunFigures(0, 1.0, 0.0, 0)


def figures(runs: Sequence[tuple[bool, int]]) -> RunFigures:
    """The figures of (success, duration ms) runs."""
    if not runs:
        return NO_RUNS
    successes = sum(1 for success, _ in runs if success)
    durations = sorted(max(0, ms) for _, ms in runs)
    p95 = durations[max(0, math.ceil(0.95 * len(runs)) - 1)]
    return RunFigures(len(runs), successes / len(runs), 1 - successes / len(runs), p95)


def figures_of_report(report: str | None) -> RunFigures:
    """The baseline an evaluation's report states (JSON: replay_success, error_rate,
    samples, p95_duration); PERFECT when it states none."""
    try:
        data = json.loads(report or "")
    except ValueError:
        return PERFECT
    if not isinstance(data, dict):
        return PERFECT
    try:
        success = float(data.get("replay_success", 1.0))
        error = float(data.get("error_rate", max(0.0, 1.0 - success)))
        return RunFigures(
            max(0, int(data.get("samples", 0))),
            min(max(success, 0.0), 1.0),
            min(max(error, 0.0), 1.0),
            int(data.get("p95_duration", 0) or 0),
        )
    except (TypeError, ValueError):
        return PERFECT


@dataclass(frozen=True)
class Verdict:
    success_drop: float
    error_rate_multiplier: float
    healthy: bool
    should_rollback: bool
    rollback_reasons: list[str]


def verdict(observed: RunFigures, baseline: RunFigures) -> Verdict:
    success_drop = baseline.success_rate - observed.success_rate
    if baseline.error_rate <= 0.0:
        multiplier = _NO_BASELINE_ERRORS if observed.error_rate > 0.0 else 1.0
    else:
        multiplier = observed.error_rate / baseline.error_rate
    reasons: list[str] = []
    if observed.samples > 0:
        if success_drop > SUCCESS_DROP_THRESHOLD:
            reasons.append("success_rate_drop")
        if multiplier > ERROR_RATE_MULTIPLIER_THRESHOLD:
            reasons.append("error_rate_regression")
    # No runs yet: neither healthy nor to roll back.
    return Verdict(
        success_drop=success_drop,
        error_rate_multiplier=multiplier,
        healthy=observed.samples > 0 and not reasons,
        should_rollback=observed.samples > 0 and bool(reasons),
        rollback_reasons=reasons,
    )
