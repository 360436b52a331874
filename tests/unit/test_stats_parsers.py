# ruff: noqa: E501 - /proc/net/dev lines are kept exactly as the kernel prints them
"""Parsers of /proc files and the history buckets of the stats sampler, on real-format text."""

from __future__ import annotations

from collections import deque

from containers_app import stats
from containers_app.logs import parse_options

NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0
  eth0:    1200      12    0    0    0     0          0         0      800       8    0    0    0     0       0          0
  eth1:      34       1    0    0    0     0          0         0       66       1    0    0    0     0       0          0
"""

PROC_STAT = """\
cpu  4705 356 584 3699 23 23 0 0 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
intr 114930548 113199788 3 0 5 263 0 4 [...]
"""

MEMINFO = """\
MemTotal:       16042172 kB
MemFree:         5310684 kB
MemAvailable:   10262000 kB
Buffers:          337600 kB
"""


def test_net_dev_sums_every_interface_but_lo() -> None:
    assert stats.parse_net_dev(NET_DEV) == (1234, 866)


def test_proc_stat_counts_idle_and_iowait_as_not_busy() -> None:
    busy, total = stats.parse_proc_stat_cpu(PROC_STAT)
    assert total == 4705 + 356 + 584 + 3699 + 23 + 23
    assert busy == total - 3699 - 23


def test_meminfo_used_is_total_minus_available() -> None:
    used, total = stats.parse_meminfo(MEMINFO)
    assert total == 16042172 * 1024
    assert used == (16042172 - 10262000) * 1024


def test_history_keeps_ten_second_means_besides_every_point() -> None:
    series = stats._Series(fine=deque(maxlen=5), coarse=deque(maxlen=10))
    width = len(stats.FIELDS)
    for second in range(100, 125):
        series.add((float(second), *([float(second % 10)] * (width - 1))))
    assert len(series.fine) == 5 and series.fine[-1][0] == 124.0
    # Buckets [100, 110) and [110, 120) are complete: means of 0..9 each.
    assert [p[0] for p in series.coarse] == [100.0, 110.0]
    assert series.coarse[0][1] == 4.5


def test_engine_stats_sample_becomes_a_reading() -> None:
    raw = {
        "read": "2026-11-27T22:10:00.123456789Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 5_000_000_000}},
        "memory_stats": {
            "usage": 10_000_000,
            "limit": 67108864,
            "stats": {"total_inactive_file": 2_000_000},
        },
        "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 50}},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 8192},
            ]
        },
        "pids_stats": {"current": 3, "limit": 100},
    }
    reading = stats.reading_from_api(raw)
    assert reading is not None
    assert reading.mem_usage == 8_000_000 and reading.mem_limit == 67108864
    assert (reading.counters.rx, reading.counters.tx) == (100, 50)
    assert (reading.counters.blk_read, reading.counters.blk_write) == (4096, 8192)
    assert reading.pids == 3 and reading.pids_limit == 100
    assert abs(reading.counters.t % 1 - 0.123456789) < 1e-5


def test_log_options_from_the_query_string() -> None:
    assert parse_options({}) == parse_options({"tail": "100", "follow": "1"})
    options = parse_options({"tail": "all", "follow": "0", "timestamps": "1", "since": "1.5"})
    assert (options.tail, options.follow, options.timestamps, options.since) == (
        "all",
        False,
        True,
        1.5,
    )
    for bad in ({"tail": "-1"}, {"follow": "maybe"}, {"since": "yesterday"}):
        try:
            parse_options(bad)
        except ValueError as exc:
            assert str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")
