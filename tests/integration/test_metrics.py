"""GET /metrics: off without DOCKDASH_METRICS_TOKEN, 401 without the bearer token, and with
it every running container as `docker stats` and its cgroup see it, the host and the
dashboard's own health; scraped by a real Prometheus server and asked in PromQL."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests import rig
from tests.conftest import ADMIN_PASSWORD
from tests.integration.live_helpers import login_cookie
from tests.rig import RUN_ID, docker_cli

pytestmark = [pytest.mark.engine]

TOKEN = f"metrics-token-{RUN_ID}"
PROMETHEUS = Path("/usr/bin/prometheus")
CPUACCT = Path("/sys/fs/cgroup/cpuacct/docker")  # this host: cgroup v1, cgroupfs
# Sends a few pings (counted network bytes), holds 8 MB in the shell, then idles.
WORKLOAD = [
    "sh",
    "-c",
    "gw=$(ip route | awk '/default/ {print $3}'); ping -A -c 3 -s 1000 -W 1 \"$gw\" >/dev/null; "
    "x=$(head -c 8000000 /dev/zero | tr '\\0' a); echo ready; "
    "trap 'exit 0' TERM; sleep 3600 & wait",
]

Samples = dict[str, list[tuple[dict[str, str], float]]]


@pytest.fixture(scope="module")
def metrics_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.LiveServer]:
    """A live dashboard with the metrics token set (and an admin, for the websockets)."""
    with rig.live_server_with_users(
        tmp_path_factory.mktemp("metrics"),
        {"admin": "admin"},
        ADMIN_PASSWORD,
        extra_env={"DOCKDASH_METRICS_TOKEN": TOKEN},
    ) as server:
        yield server


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def scrape(server: rig.LiveServer) -> Samples:
    """Every sample of one scrape, by sample name: (labels, value)."""
    status, headers, body = fetch(server.url + "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body[:500]
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def value(samples: Samples, metric: str, **labels: str) -> float:
    found = [v for have, v in samples.get(metric, []) if labels.items() <= have.items()]
    assert len(found) == 1, f"{metric}{labels}: {found} in {sorted(samples)}"
    return found[0]


def docker_stats(name: str) -> dict[str, str]:
    return json.loads(docker_cli("stats", "--no-stream", "--format", "{{json .}}", name))


UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def size(text: str) -> float:
    """Bytes of a `docker stats` size ("8.1MiB", "3.21kB", "0B")."""
    match = re.fullmatch(r"([0-9.]+)\s*([kMG]i?)?B", text.strip())
    assert match, text
    return float(match.group(1)) * UNITS[match.group(2) or ""]


def near(ours: float, theirs: float, *, within: float, at_least: float) -> bool:
    return abs(ours - theirs) <= max(within * theirs, at_least)


@pytest.mark.django_db
def test_metrics_are_off_when_no_token_is_set(client: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 401
    settings.METRICS_TOKEN = ""
    for header in ("Bearer anything", "Bearer ", f"Bearer {TOKEN}"):
        answer = client.get("/metrics", HTTP_AUTHORIZATION=header)
        assert answer.status_code == 404, header
        assert "dockdash_" not in answer.content.decode()


@pytest.mark.django_db
def test_metrics_refuse_a_missing_or_wrong_bearer_token_even_to_a_signed_in_admin(
    client: Any, settings: Any, admin_user: Any
) -> None:
    settings.METRICS_TOKEN = TOKEN
    client.force_login(admin_user)  # a session opens nothing here: only the token does
    for header in (None, "Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN):
        extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
        answer = client.get("/metrics", **extra)
        assert answer.status_code == 401, header
        assert answer["WWW-Authenticate"].startswith("Bearer"), header
        assert "bearer token" in answer.content.decode()
        assert "dockdash_" not in answer.content.decode()
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_a_containers_metrics_carry_its_labels_and_agree_with_docker_stats(
    metrics_server: rig.LiveServer, make_container: Callable[..., Any]
) -> None:
    owner, course = f"ana{RUN_ID}", f"c{RUN_ID}"
    box = make_container(
        WORKLOAD,
        labels={"dockdash.owner": owner, "dockdash.class": course},
        mem_limit="64m",
    )
    rig.wait_for(lambda: b"ready" in box.logs(), timeout=15, what="the workload to settle")

    # No cookie, no login: the token alone opens it (the security headers do not get in the way).
    samples = scrape(metrics_server)
    ours = {"name": box.name, "owner": owner, "class": course}
    cpu_now = int((CPUACCT / box.id / "cpuacct.usage").read_text()) / 1e9
    stats = docker_stats(box.name)

    mem = value(samples, "dockdash_container_memory_usage_bytes", **ours)
    used, limit = stats["MemUsage"].split(" / ")
    assert near(mem, size(used), within=0.05, at_least=512 * 1024), (mem, stats)
    assert mem > 8_000_000  # the 8 MB the shell holds
    assert value(samples, "dockdash_container_memory_limit_bytes", **ours) == 64 * 1024**2
    assert size(limit) == 64 * 1024**2
    assert value(samples, "dockdash_container_pids", **ours) == int(stats["PIDs"])
    cpu = value(samples, "dockdash_container_cpu_seconds_total", **ours)
    assert 0 < cpu <= cpu_now and cpu_now - cpu < 0.05, (cpu, cpu_now)
    rx, tx = (size(part) for part in stats["NetIO"].split(" / "))
    sent = value(samples, "dockdash_container_network_transmit_bytes_total", **ours)
    assert sent > 3 * 1000  # the pings
    assert near(sent, tx, within=0.02, at_least=1024), (sent, stats)
    received = value(samples, "dockdash_container_network_receive_bytes_total", **ours)
    assert near(received, rx, within=0.02, at_least=1024), (received, stats)
    read, written = (size(part) for part in stats["BlockIO"].split(" / "))
    blk_read = value(samples, "dockdash_container_block_read_bytes_total", **ours)
    assert near(blk_read, read, within=0.02, at_least=4096)
    blk_write = value(samples, "dockdash_container_block_write_bytes_total", **ours)
    assert near(blk_write, written, within=0.02, at_least=4096)
    assert value(samples, "dockdash_container_oom_kills_total", **ours) == 0
    assert value(samples, "dockdash_container_restarts_total", **ours) == 0

    # One sweep for both (a container of another test may have stopped since).
    running = value(samples, "dockdash_host_containers_running")
    assert running >= len(samples["dockdash_container_pids"]) >= 1
    assert value(samples, "dockdash_host_memory_total_bytes") > 0
    assert value(samples, "dockdash_host_cpu_seconds_total") > 0
    assert value(samples, "dockdash_engine_up") == 1


@contextlib.contextmanager
def _open_socket(server: rig.LiveServer, cookie: str, path: str) -> Iterator[None]:
    with connect(
        server.url.replace("http://", "ws://") + path,
        additional_headers={"Cookie": cookie, "Origin": server.url},
        open_timeout=10,
    ) as socket:
        socket.recv(timeout=10)  # its first frame: it is open and counted
        yield


def test_metrics_count_the_dashboards_viewers_sockets_log_streams_and_engine_calls(
    metrics_server: rig.LiveServer, make_container: Callable[..., Any]
) -> None:
    box = make_container(["sh", "-c", "echo hello; trap 'exit 0' TERM; sleep 3600 & wait"])
    cookie = login_cookie(metrics_server.url, "admin", ADMIN_PASSWORD)
    with (
        _open_socket(metrics_server, cookie, "/ws/stats/"),
        _open_socket(metrics_server, cookie, f"/ws/containers/{box.id}/logs/?follow=1"),
    ):
        samples = scrape(metrics_server)
        assert value(samples, "dockdash_websockets_open") == 2
        assert value(samples, "dockdash_stats_viewers") == 1
        assert value(samples, "dockdash_log_streams_open") == 1
        assert value(samples, "dockdash_sampler_running") == 1
        assert 0 < value(samples, "dockdash_sampler_sweep_seconds") < 5
        assert value(samples, "dockdash_engine_call_seconds_count", method="GET") > 0
        assert "process_resident_memory_bytes" in samples

    def all_closed() -> bool:
        samples = scrape(metrics_server)
        names = ("dockdash_websockets_open", "dockdash_stats_viewers", "dockdash_log_streams_open")
        return all(value(samples, name) == 0 for name in names)

    rig.wait_for(all_closed, timeout=10, interval=0.2, what="the sockets to count as closed")
    # With no viewer left, the scrapes keep the sampler sweeping.
    swept = value(scrape(metrics_server), "dockdash_sampler_last_sweep_timestamp_seconds")
    rig.wait_for(
        lambda: (
            value(scrape(metrics_server), "dockdash_sampler_last_sweep_timestamp_seconds") > swept
        ),
        timeout=5,
        interval=0.2,
        what="a sweep after the last viewer left",
    )


def test_a_prometheus_server_scrapes_the_dashboard_and_answers_a_containers_memory(
    metrics_server: rig.LiveServer, make_container: Callable[..., Any], tmp_path: Path
) -> None:
    assert PROMETHEUS.exists(), f"{PROMETHEUS} is missing: apt-get install prometheus"
    owner = f"bo{RUN_ID}"
    box = make_container(WORKLOAD, labels={"dockdash.owner": owner}, mem_limit="64m")
    rig.wait_for(lambda: b"ready" in box.logs(), timeout=15, what="the workload to settle")
    target = metrics_server.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: dockdash\n"
        f"    authorization: {{type: Bearer, credentials: {TOKEN}}}\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = rig.free_port()
    api = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as out:
        prometheus = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={config}"]
            + [
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        query = f'dockdash_container_memory_usage_bytes{{name="{box.name}"}}'

        def answered() -> list[dict[str, Any]]:
            assert prometheus.poll() is None, log.read_text()[-2000:]
            url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            status, _, body = fetch(url)
            assert status == 200, body
            found = list(json.loads(body)["data"]["result"])
            if not found:  # say why, should it never come
                targets = json.loads(fetch(f"{api}/api/v1/targets")[2])["data"]["activeTargets"]
                raise AssertionError(f"no answer yet; targets: {targets}")
            return found

        started = time.monotonic()
        (result,) = rig.wait_for(answered, timeout=15, interval=0.2, what=f"PromQL {query}")
        print(f"Prometheus answered {query} {time.monotonic() - started:.1f} s after its start")
        assert result["metric"]["owner"] == owner
        assert result["metric"]["job"] == "dockdash"
        stored = float(result["value"][1])
        mem = value(scrape(metrics_server), "dockdash_container_memory_usage_bytes", name=box.name)
        assert near(stored, mem, within=0.05, at_least=512 * 1024), (stored, mem)
        assert stored > 8_000_000
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=10)
