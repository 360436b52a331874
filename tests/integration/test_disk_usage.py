"""The engine's disk usage (`/system/df`) is asked once for a burst of pages, never an error page.

The engine computes one df at a time and refuses any other asked meanwhile, so
the home page and the volume list, which both show sizes, used to answer 409
to most of a burst of page loads. Proven against the real daphne server and the
real engine, through an engine socket that counts df calls (and can answer
them as a busy engine does).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from containers_app.singleflight import SingleFlight
from tests import rig
from tests.integration.live_helpers import (
    CACHE_SECONDS,
    CountingEngineProxy,
    burst,
    live_server_behind,
    login_cookie,
)
from tests.rig import LABELS

PASSWORD = "disk-usage-pass-1"
STUDENTS = ["dfstudent1", "dfstudent2", "dfstudent3"]
BURST = 30
NOTE = "Disk use is not shown: the engine is busy computing it for another client."


@pytest.fixture(scope="module")
def df_server(
    tmp_path_factory: pytest.TempPathFactory, engine_proxy: CountingEngineProxy
) -> Iterator[rig.LiveServer]:
    users = {"dfadmin": "admin", **dict.fromkeys(STUDENTS, "student")}
    with live_server_behind(engine_proxy, tmp_path_factory.mktemp("df-live"), users, PASSWORD) as s:
        yield s


@pytest.fixture(scope="module")
def student_volume(docker_client: Any) -> Iterator[str]:
    volume = docker_client.volumes.create(
        labels={**LABELS, "dockdash.owner": "dfstudent1"}, name=f"dd-df-{rig.RUN_ID}"
    )
    yield volume.name
    volume.remove(force=True)


def _df_calls_during(proxy: CountingEngineProxy, run: Any) -> tuple[Any, int]:
    before = proxy.df_calls
    result = run()
    return result, proxy.df_calls - before


@pytest.mark.parametrize("role", ["student", "admin"])
def test_a_burst_of_home_and_volume_pages_asks_the_engine_once_and_all_answer_200(
    role: str,
    df_server: rig.LiveServer,
    engine_proxy: CountingEngineProxy,
    student_volume: str,
) -> None:
    names = STUDENTS if role == "student" else ["dfadmin"]
    cookies = [login_cookie(df_server.url, name, PASSWORD) for name in names]
    for path in ("/", "/volumes/"):
        # A fresh burst: the kept result of the logins and of the previous burst expired.
        engine_proxy.wait_until_df_idle(CACHE_SECONDS + 0.2)
        result, df_calls = _df_calls_during(
            engine_proxy, lambda p=path: burst(df_server.url, p, cookies, BURST)
        )
        print(f"\n[df] {role} {result.summary()} df calls={df_calls}")
        assert not result.errors, [(a.status, a.body[:300]) for a in result.errors[:3]]
        assert df_calls == 1, f"{df_calls} /system/df calls for {BURST} loads of {path}"
        assert all(NOTE not in a.body for a in result.answers)
        if path == "/":
            assert all('data-field="disk_usage"' in a.body for a in result.answers)
        elif role == "student":  # the answers of dfstudent1's session list their volume
            assert all(student_volume in a.body for a in result.answers[:: len(cookies)])


def test_a_busy_engine_gives_pages_without_sizes_and_a_note_never_an_error(
    df_server: rig.LiveServer, engine_proxy: CountingEngineProxy
) -> None:
    cookies = [login_cookie(df_server.url, "dfstudent1", PASSWORD)]
    engine_proxy.busy = True  # another client's df runs for longer than the pages wait
    try:
        rig.wait_for(
            lambda: NOTE in burst(df_server.url, "/", cookies, 1).answers[0].body,
            timeout=20,
            interval=0.5,
            what="the home page to give up on sizes",
        )
        for path in ("/", "/volumes/"):
            result = burst(df_server.url, path, cookies, 10)
            print(f"\n[df busy] {result.summary()}")
            assert not result.errors, [(a.status, a.body[:300]) for a in result.errors[:3]]
            assert all(NOTE in a.body for a in result.answers)
    finally:
        engine_proxy.busy = False
    # Once the other df is over, sizes come back by themselves (after the short keep).
    rig.wait_for(
        lambda: 'data-field="disk_usage"' in burst(df_server.url, "/", cookies, 1).answers[0].body,
        timeout=20,
        interval=0.5,
        what="disk use on the home page again",
    )


def test_a_busy_engine_for_a_moment_is_waited_for(
    df_server: rig.LiveServer, engine_proxy: CountingEngineProxy
) -> None:
    cookies = [login_cookie(df_server.url, "dfstudent2", PASSWORD)]
    engine_proxy.wait_until_df_idle(CACHE_SECONDS + 0.2)
    engine_proxy.busy = True
    release = threading.Timer(0.5, lambda: setattr(engine_proxy, "busy", False))
    release.start()
    try:
        result = burst(df_server.url, "/", cookies, 5)
    finally:
        release.cancel()
        engine_proxy.busy = False
    assert not result.errors
    assert all('data-field="disk_usage"' in a.body for a in result.answers)


# ---------------------------------------------------------------- the single-flight helper


def test_threads_and_coroutines_arriving_together_share_one_call() -> None:
    flight: SingleFlight[int] = SingleFlight(lambda: 0.0)
    started, release = threading.Event(), threading.Event()
    runs = 0

    def slow() -> int:
        nonlocal runs
        runs += 1
        started.set()
        assert release.wait(10)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(flight.run("k", slow)))]
    threads[0].start()
    assert started.wait(10)
    threads += [
        threading.Thread(target=lambda: results.append(flight.run("k", slow))) for _ in range(5)
    ]
    for t in threads[1:]:
        t.start()

    async def coroutines() -> list[int]:
        waiting = [asyncio.ensure_future(flight.arun("k", slow)) for _ in range(5)]
        await asyncio.sleep(0)  # each has joined the call under way
        release.set()
        return list(await asyncio.gather(*waiting))

    results += asyncio.run(coroutines())
    for t in threads:
        t.join(10)
    assert results == [42] * 11
    assert runs == 1 == flight.calls


def test_a_result_is_kept_for_the_ttl_and_an_exception_never() -> None:
    ttl = [60.0]
    flight: SingleFlight[int] = SingleFlight(lambda: ttl[0])
    calls = iter(range(100))
    assert flight.run("k", lambda: next(calls)) == 0
    assert flight.run("k", lambda: next(calls)) == 0  # kept
    assert flight.run("other", lambda: next(calls)) == 1  # per key
    ttl[0] = 0.0
    assert flight.run("k", lambda: next(calls)) == 2  # expired

    def broken() -> int:
        raise RuntimeError("engine down")

    ttl[0] = 60.0
    flight.forget()
    with pytest.raises(RuntimeError):
        flight.run("k", broken)
    assert flight.run("k", lambda: next(calls)) == 3  # the failure was not kept
