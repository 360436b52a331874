"""The logs and stats API and the log download, judged by the Docker CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dashboard.access import OWNER_LABEL
from tests.rig import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def talker(make_container: Callable[..., Any], docker_client: Any) -> Any:
    container = make_container(
        ["sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; sleep 3600"],
        mem_limit="64m",
    )
    wait_for(lambda: b"err5" in docker_client.api.logs(container.id), what="all ten lines")
    return container


def test_api_logs_answer_the_tail_as_text(admin_api: Any, talker: Any, docker_client: Any) -> None:
    response = admin_api.get(f"/api/v1/containers/{talker.name}/logs/?tail=3")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == docker_client.api.logs(talker.id, tail=3)
    assert len(response.content.splitlines()) == 3


def test_api_logs_refuse_a_bad_tail_with_a_message(admin_api: Any, talker: Any) -> None:
    response = admin_api.get(f"/api/v1/containers/{talker.id}/logs/?tail=-4")
    assert response.status_code == 400
    assert response.json() == {"error": "tail must be a number of lines or 'all'.", "field": "tail"}


def test_api_stats_answer_a_sample_without_a_running_sampler(admin_api: Any, talker: Any) -> None:
    response = admin_api.get(f"/api/v1/containers/{talker.id}/stats/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == talker.id and body["running"] is True
    assert body["latest"]["mem_limit"] == 67108864
    assert body["latest"]["pids"] == 1
    assert body["history"]["fields"][0] == "t"


def test_student_cannot_read_another_students_logs(
    api_client: Any, make_user: Callable[..., Any], make_container: Callable[..., Any]
) -> None:
    other = make_container(labels={OWNER_LABEL: "student2"})
    api_client.force_authenticate(make_user("student1", "student"))
    assert api_client.get(f"/api/v1/containers/{other.id}/logs/").status_code == 404
    assert api_client.get(f"/api/v1/containers/{other.id}/stats/").status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_download_streams_the_whole_log_as_a_file(
    async_client: Any, admin_user: Any, talker: Any, docker_client: Any
) -> None:
    await async_client.aforce_login(admin_user)
    response = await async_client.get(f"/containers/{talker.id}/logs/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{talker.name}.log"'
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert body == docker_client.api.logs(talker.id)
    assert sorted(body.decode().splitlines()) == sorted(
        [f"out{i}" for i in range(1, 6)] + [f"err{i}" for i in range(1, 6)]
    )
