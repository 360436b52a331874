"""The rig itself: the offline image runs, and the registry server demands its password."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.rig import LABELS, docker_cli


def test_offline_busybox_image_runs_and_is_labelled(docker_client: Any, test_image: str):
    out = docker_client.containers.run(
        test_image, ["sh", "-c", "echo hello from $(hostname)"], labels=LABELS, remove=True
    )
    assert out.decode().startswith("hello from ")
    assert docker_client.images.get(test_image).labels == LABELS


def test_registry_server_requires_its_password(registry_server: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(registry_server.url + "/v2/", timeout=5)  # noqa: S310
    assert anonymous.value.code == 401
    creds = base64.b64encode(f"{registry_server.username}:{registry_server.password}".encode())
    request = urllib.request.Request(
        registry_server.url + "/v2/", headers={"Authorization": f"Basic {creds.decode()}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        assert response.status == 200


def test_test_resources_carry_the_run_label(make_container: Any) -> None:
    container = make_container()
    labels = docker_cli("inspect", "--format", "{{json .Config.Labels}}", container.id)
    assert f'"dockdash.test":"{LABELS["dockdash.test"]}"' in labels
