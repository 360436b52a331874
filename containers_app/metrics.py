"""Prometheus metrics of this process (`GET /metrics`): every running container as the
stats sampler's last sweep saw it, the host, and the dashboard's own health.

Nothing is counted per tick for this: a scrape reads what the sampler already holds
(its last frame and each container's cumulative cgroup counters), so it costs no engine
call per container and opens no Docker stats stream. A scrape keeps the sampler running
for HOLD_SECONDS, as a connected viewer does; the first scrape after it stopped waits for
its first sweep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from containers_app import logs, socket_count, stats
from containers_app.engine import client as engine_client

# Five scrape intervals of Prometheus's default minute: the sampler stops once nobody
# scrapes (or watches) any more.
HOLD_SECONDS = 300.0
FIRST_SWEEP_SECONDS = 5.0
CONTAINER_LABELS = ["name", "owner", "class"]


def _container_families(rows: list[stats.ContainerTotals]) -> Iterator[Metric]:
    def counter(name: str, doc: str) -> CounterMetricFamily:
        return CounterMetricFamily(f"dockdash_container_{name}", doc, labels=CONTAINER_LABELS)

    def gauge(name: str, doc: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"dockdash_container_{name}", doc, labels=CONTAINER_LABELS)

    cpu = counter("cpu_seconds", "CPU time used since it started.")
    mem = gauge("memory_usage_bytes", "Memory used, less inactive file cache.")
    limit = gauge("memory_limit_bytes", "Its memory limit (the host's memory when it has none).")
    rx = counter("network_receive_bytes", "Bytes received (all interfaces but lo).")
    tx = counter("network_transmit_bytes", "Bytes sent (all interfaces but lo).")
    blk_read = counter("block_read_bytes", "Bytes read from block devices.")
    blk_write = counter("block_write_bytes", "Bytes written to block devices.")
    pids = gauge("pids", "Processes and threads in it.")
    ooms = counter("oom_kills", "Processes the OOM killer ended in it since it started.")
    restarts = counter("restarts", "Restarts by its restart policy.")
    metric: CounterMetricFamily | GaugeMetricFamily
    for row in rows:
        s = row.sample
        labels = [s["name"], s["owner"] or "", row.course or ""]
        for metric, value in (
            (cpu, row.cpu_seconds),
            (mem, s["mem_usage"]),
            (limit, s["mem_limit"]),
            (rx, row.net_rx),
            (tx, row.net_tx),
            (blk_read, row.blk_read),
            (blk_write, row.blk_write),
            (pids, s["pids"]),
            (ooms, s["oom_kills"]),
            (restarts, row.restarts),
        ):
            if value is not None:
                metric.add_metric(labels, value)
    yield from (cpu, mem, limit, rx, tx, blk_read, blk_write, pids, ooms, restarts)


def _host_families(sampler: stats.StatsSampler, frame: stats.StatsFrame) -> Iterator[Metric]:
    host = frame["host"]
    busy = sampler.host_cpu_seconds
    if busy is not None:
        yield CounterMetricFamily(
            "dockdash_host_cpu_seconds", "CPU time the host's CPUs were busy.", value=busy
        )
    yield GaugeMetricFamily("dockdash_host_cpus", "CPUs of the host.", value=host["ncpu"])
    if host["mem_total"]:
        yield GaugeMetricFamily(
            "dockdash_host_memory_used_bytes",
            "Memory in use (total less available).",
            value=host["mem_used"],
        )
        yield GaugeMetricFamily(
            "dockdash_host_memory_total_bytes", "The host's memory.", value=host["mem_total"]
        )
    yield GaugeMetricFamily(
        "dockdash_host_containers_running", "Running containers.", value=len(frame["containers"])
    )


class DashboardCollector(Collector):
    """Reads this process's stats sampler and connection counts at scrape time."""

    def collect(self) -> Iterator[Metric]:
        sampler = stats.sampler_for()
        frame = sampler.last_frame
        yield GaugeMetricFamily(
            "dockdash_sampler_running",
            "1 while the stats sampler runs (someone watches or scrapes).",
            value=int(sampler.running),
        )
        yield GaugeMetricFamily(
            "dockdash_stats_viewers", "Live stats views connected.", value=sampler.subscribers
        )
        yield CounterMetricFamily(
            "dockdash_sampler_sweeps",
            "Sweeps of the engine's cgroups this process made (none while its agent sweeps).",
            value=sampler.sweeps,
        )
        yield GaugeMetricFamily(
            "dockdash_sampler_relayed",
            "1 when the engine's stats agent sweeps and this process only relays its frames.",
            value=int(sampler.relayed),
        )
        yield GaugeMetricFamily(
            "dockdash_websockets_open", "Websockets open.", value=socket_count.open_sockets()
        )
        yield GaugeMetricFamily(
            "dockdash_log_streams_open", "Container log streams open.", value=logs.active_streams()
        )
        if frame is None:
            return
        yield GaugeMetricFamily(
            "dockdash_sampler_sweep_seconds",
            "Seconds the sampler's last sweep of every container took.",
            value=sampler.sweep_seconds,
        )
        yield GaugeMetricFamily(
            "dockdash_sampler_last_sweep_timestamp_seconds",
            "When the last sweep ran (epoch seconds).",
            value=frame["t"],
        )
        yield GaugeMetricFamily(
            "dockdash_engine_up",
            "1 when the engine answered the sampler's last list call.",
            value=int(not frame["engine_error"]),
        )
        yield from _host_families(sampler, frame)
        yield from _container_families(sampler.last_sweep())


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(DashboardCollector())
REGISTRY.register(engine_client.CALL_SECONDS)
ProcessCollector(registry=REGISTRY)


async def scrape(accept: str) -> tuple[bytes, str]:
    """The metrics, in the format the `Accept` header prefers, and their content type."""
    sampler = stats.sampler_for()
    await sampler.hold(HOLD_SECONDS)
    await sampler.next_frame(FIRST_SWEEP_SECONDS)
    encode, content_type = choose_encoder(accept)
    return await asyncio.to_thread(encode, REGISTRY), content_type
