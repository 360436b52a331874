"""Registry API and pages in-process: who may do what, write-only passwords, audit, errors."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dashboard.models import AuditEntry
from registry_app import services
from registry_app.models import Credential, Job, Registry
from registry_app.v2client import RegistryClient, RegistryError
from tests import rig

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(api_client: Any, make_user: Any) -> Any:
    def login(name: str, role: str) -> Any:
        api_client.force_authenticate(make_user(name, role))
        return api_client

    return login


def test_docker_hub_is_configured_by_default(as_user: Any) -> None:
    rows = as_user("alice", "student").get("/api/v1/registries/").json()
    assert [(r["name"], r["host"], r["username"]) for r in rows] == [
        ("Docker Hub", "docker.io", "")
    ]


def test_only_admins_manage_registries_and_passwords_are_write_only(as_user: Any) -> None:
    body = {
        "name": "class",
        "url": "http://127.0.0.1:5999",
        "username": "u",
        "password": "p4ss-w0rd",
    }
    for name, role in (("alice", "student"), ("teach", "instructor"), ("vic", "viewer")):
        answer = as_user(name, role).post("/api/v1/registries/", body, format="json")
        assert answer.status_code == 403 and "may not manage registries" in answer.json()["error"]
    admin = as_user("root", "admin")
    created = admin.post("/api/v1/registries/", body, format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    assert "password" not in created.json() and "p4ss-w0rd" not in created.content.decode()
    login = Registry.objects.get(pk=pk).own_credential()
    assert login is not None and login.owner is None and login.scope == "personal"
    assert login.password_encrypted and "p4ss" not in login.password_encrypted
    assert login.get_password() == "p4ss-w0rd"

    admin.patch(f"/api/v1/registries/{pk}/", {"url": "http://127.0.0.1:6000"}, format="json")
    login = Registry.objects.get(pk=pk).own_credential()
    assert login is not None and login.get_password() == "p4ss-w0rd"  # left out: kept
    admin.patch(f"/api/v1/registries/{pk}/", {"username": ""}, format="json")
    assert not Credential.objects.filter(registry_id=pk).exists()  # anonymous: no secret kept

    assert admin.delete(f"/api/v1/registries/{pk}/").status_code == 204
    assert not Registry.objects.filter(pk=pk).exists()
    actions = list(
        AuditEntry.objects.filter(target_id=str(pk)).values_list("action", "result", "params")
    )
    assert [a for a, _, _ in actions] == [
        "registry.delete",
        "registry.update",
        "registry.update",
        "registry.create",
    ]
    assert all("p4ss-w0rd" not in str(params) for _, _, params in actions)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "x", "url": "ftp://host"}, "url", "http:// or https://"),
        ({"name": "x", "url": "http://"}, "url", "names no registry host"),
        ({"name": "Docker Hub", "url": "https://r.example"}, "name", "already exists"),
        ({"url": "https://r.example"}, "name", "required"),
    ],
)
def test_bad_registry_bodies_answer_400_with_the_field(
    as_user: Any, body: dict[str, str], field: str, words: str
) -> None:
    answer = as_user("root", "admin").post("/api/v1/registries/", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["field"] == field and words in answer.json()["error"]
    assert Registry.objects.count() == 1


def test_viewers_may_not_pull_and_students_see_only_their_jobs(
    as_user: Any, make_user: Any, teach: Any
) -> None:
    answer = as_user("vic", "viewer").post(
        "/api/v1/images/pull/", {"image": "busybox"}, format="json"
    )
    assert answer.status_code == 403
    alice = make_user("alice", "student")
    job = Job.objects.create(
        kind="pull", user=alice, username="alice", target="x:1", state="failed"
    )
    assert as_user("bob", "student").get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert as_user("other", "instructor").get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    teacher = make_user("teach", "instructor")
    teach(teacher, alice)
    api = APIClient()
    api.force_authenticate(teacher)
    seen = api.get(f"/api/v1/jobs/{job.pk}/")
    assert seen.status_code == 200 and seen.json()["state"] == "failed"


def test_registry_pages_hide_management_from_students(client: Any, make_user: Any) -> None:
    client.force_login(make_user("alice", "student"))
    page = client.get("/registries/")
    assert page.status_code == 200 and "Add a registry" not in page.content.decode()
    assert client.get("/registries/new/").status_code == 403
    assert client.get("/registries/pull/").status_code == 200


@pytest.mark.engine
def test_unresolvable_registry_is_reported_as_unreachable_by_the_engine(docker_client: Any) -> None:
    registry = Registry.objects.create(name="typo", url="https://registry.invalid")
    registry.set_own_credential("u", "p")
    outcome = services.test_connection(registry)
    assert not outcome.ok
    assert outcome.message.startswith("Unreachable: the name registry.invalid does not resolve")


@pytest.mark.registry
def test_https_to_a_plain_http_registry_is_a_tls_problem(
    registry_server: rig.RegistryServer,
) -> None:
    with pytest.raises(RegistryError, match="TLS problem"):
        RegistryClient(f"https://{registry_server.host}").ping()


@pytest.mark.parametrize(
    ("engine_text", "start"),
    [
        ('Get "https://r:5000/v2/": x509: certificate signed by unknown authority', "TLS problem"),
        (
            'Get "https://r:5000/v2/": http: server gave HTTP response to HTTPS client',
            "TLS problem",
        ),
        ('Get "http://r:5000/v2/": unauthorized: incorrect username or password', "Wrong username"),
        (
            'Get "https://r:5000/v2/": dial tcp 10.0.0.1:5000: connect: connection refused',
            "Unreachable",
        ),
        (
            'Get "https://r:5000/v2/": net/http: request canceled (Client.Timeout exceeded)',
            "Unreachable",
        ),
    ],
)
def test_engine_login_errors_are_told_in_words(engine_text: str, start: str) -> None:
    assert services.explain_registry_error(engine_text, "r:5000").startswith(start)


def test_registry_form_sets_who_may_use_it_and_students_store_their_own_login(
    client: Any, make_user: Any
) -> None:
    admin = make_user("root", "admin")
    client.force_login(admin)
    form = client.get("/registries/new/").content.decode()
    assert "usable by non-admins" in form.lower() and "Shared for pulls" in form
    saved = client.post(
        "/registries/new/",
        {
            "name": "class",
            "url": "https://registry.example.org",
            "username": "teacher",
            "password": "t-pass",
            "credentials_scope": "shared-pull",
            "allow_non_admins": "on",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[-1500:]
    registry = Registry.objects.get(name="class")
    assert registry.allow_non_admins and registry.credentials_scope == "shared-pull"
    assert registry.own_credential() is not None

    alice = make_user("alice", "student")
    client.force_login(alice)
    page = client.get(f"/registries/{registry.pk}/credentials/")
    assert page.status_code == 200 and "My login for class" in page.content.decode()
    stored = client.post(
        f"/registries/{registry.pk}/credentials/",
        {"username": "alice-login", "password": "a-pass", "scope": "personal"},
    )
    assert stored.status_code == 302
    mine = Credential.objects.get(registry=registry, owner=alice)
    assert mine.get_password() == "a-pass" and "a-pass" not in mine.password_encrypted

    hidden = Registry.objects.create(name="staff only", url="https://staff.example.org")
    refused = client.post(
        f"/registries/{hidden.pk}/credentials/",
        {"username": "x", "password": "y", "scope": "personal"},
    )
    assert refused.status_code == 403 and not hidden.credentials.exists()

    client.force_login(admin)
    edited = client.post(
        f"/registries/{registry.pk}/edit/",
        {
            "name": "class b",
            "url": "https://registry.example.org",
            "username": "teacher",
            "password": "",
            "credentials_scope": "shared-pull",
        },
    )
    assert edited.status_code == 302, edited.content.decode()[-1500:]
    registry.refresh_from_db()
    assert registry.name == "class b" and not registry.allow_non_admins
    own = registry.own_credential()
    assert own is not None and own.get_password() == "t-pass"  # left empty: kept
    rows = AuditEntry.objects.filter(target_kind="registry", action__startswith="registry.")
    assert [
        (r.action, r.target_id, r.target_name, r.params["password_changed"])
        for r in rows.exclude(action__startswith="registry.credential").order_by("id")
    ] == [
        ("registry.create", str(registry.pk), "class", True),
        ("registry.update", str(registry.pk), "class b", False),
    ]
