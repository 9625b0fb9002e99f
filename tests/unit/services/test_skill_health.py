"""A release's health figures and verdict, as upstream Shipyard Neo computes them."""

from __future__ import annotations

import pytest

from bay_mcp.services import skill_health
from bay_mcp.services.skill_health import RunFigures, figures, figures_of_report, verdict


def test_figures_count_successes_and_take_the_95th_percentile() -> None:
    runs = [(True, ms) for ms in range(1, 20)] + [(False, 100)]
    got = figures(runs)
    assert (got.samples, got.success_rate) == (20, 0.95)
    assert got.error_rate == pytest.approx(0.05)
    assert got.p95_duration == 19  # ceil(0.95 * 20) - 1: the 19th of 20, sorted
    assert figures([]) == skill_health.NO_RUNS


def test_an_evaluation_report_gives_the_baseline_when_it_states_one() -> None:
    stated = figures_of_report('{"replay_success": 0.9, "samples": 10, "p95_duration": 40}')
    assert (stated.samples, stated.success_rate, stated.p95_duration) == (10, 0.9, 40)
    assert stated.error_rate == pytest.approx(0.1)
    assert figures_of_report('{"replay_success": 7}').success_rate == 1.0  # clamped
    for unusable in (None, "", "not json", "[1]", '{"samples": "many"}'):
        assert figures_of_report(unusable) == skill_health.PERFECT


def test_the_verdict_follows_upstreams_thresholds() -> None:
    baseline = RunFigures(10, 0.9, 0.1, 5)
    same = verdict(RunFigures(10, 0.9, 0.1, 5), baseline)
    assert (same.healthy, same.should_rollback, same.rollback_reasons) == (True, False, [])
    worse = verdict(RunFigures(10, 0.7, 0.3, 5), baseline)
    assert worse.rollback_reasons == ["success_rate_drop", "error_rate_regression"]
    assert worse.error_rate_multiplier == pytest.approx(3.0)
    first_error = verdict(RunFigures(10, 0.99, 0.01, 5), skill_health.PERFECT)
    assert first_error.error_rate_multiplier == 1_000_000.0
    assert first_error.rollback_reasons == ["error_rate_regression"]
    nothing = verdict(skill_health.NO_RUNS, skill_health.PERFECT)
    assert (nothing.healthy, nothing.should_rollback) == (False, False)
