"""The alert rules on facts alone: windows, hysteresis, grace."""

from __future__ import annotations

from dashboard.alert_rules import (
    Thresholds,
    cpu_pinned,
    exited,
    memory_high,
    near_quota,
    oom,
    restart_loop,
)
from dashboard.quotas import Limits, Usage

TH = Thresholds(restarts=3, restart_seconds=60, cpu_seconds=4, oom_clear_seconds=10)


def test_a_restart_loop_is_enough_exits_within_the_window() -> None:
    assert restart_loop([1, 2, 3], 10, TH)
    assert restart_loop([1, 2], 10, TH) is None
    assert restart_loop([1, 2, 3], 62, TH) is None  # the first left the window


def test_cpu_pinned_needs_most_of_a_full_window_and_a_limit() -> None:
    assert cpu_pinned([True, True, True, False], 0.5, 1.0, TH)
    assert cpu_pinned([True, True, False, False], 0.5, 1.0, TH) is None  # half is not most
    assert cpu_pinned([True, True, True], 0.5, 1.0, TH) is None  # not 4 s seen yet
    assert cpu_pinned([True] * 4, None, 1.0, TH) is None  # no limit: nothing holds it back


def test_memory_high_fires_at_the_line_and_ends_five_points_below() -> None:
    assert memory_high(91, 100, True, False, TH)
    assert memory_high(88, 100, True, False, TH) is None
    assert memory_high(88, 100, True, True, TH)  # firing: held until below 85 %
    assert memory_high(84, 100, True, True, TH) is None
    assert memory_high(99, 100, False, False, TH) is None  # the host's memory, not a limit


def test_oom_clears_after_quiet_and_exits_wait_for_a_restart() -> None:
    assert oom(2, 100.0, 105.0, TH) and "2 processes" in oom(2, 100.0, 105.0, TH)  # type: ignore[operator]
    assert oom(2, 100.0, 111.0, TH) is None
    assert exited(3, 100.0, False, 101.0, TH) is None  # may start again at once
    assert exited(3, 100.0, False, 103.0, TH) == "Exited with code 3."
    assert exited(3, 100.0, True, 103.0, TH) is None  # a restart loop says more
    assert exited(0, 100.0, False, 103.0, TH) is None


def test_near_quota_names_each_full_quota() -> None:
    limits = Limits(max_running=2, memory_total=1000)
    assert near_quota(limits, Usage(running=2, memory=100), TH) == "Running containers: 2 of 2."
    assert near_quota(limits, Usage(running=1, memory=100), TH) is None
