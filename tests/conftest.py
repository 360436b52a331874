"""Fixtures shared by every test: users of each role, the real engine, registry and browser."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.integration.live_helpers import CountingEngineProxy, counting_engine_proxy
from tests.ldap_server import LdapServer, start_ldap_server
from tests.rig import LABELS, RUN_ID

ADMIN_PASSWORD = "admin-pass-for-tests"


# ---------------------------------------------------------------- users (Django test database)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The test database, migrated: the live servers' databases start from a copy of it."""
    from django.db import connection

    with django_db_blocker.unblock():
        rig.keep_migrated_sqlite(connection)


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from dashboard.accounts import create_user

    def make(username: str, role: str = "student", password: str = "pass-for-tests") -> Any:
        user, _ = create_user(username, role, password)
        return user

    return make


@pytest.fixture
def teach(db: Any) -> Callable[..., Any]:
    """Put students (users or usernames; missing ones are made students) in a class taught
    by `instructor`: an instructor sees and controls only the students of their classes."""
    from dashboard.accounts import create_user
    from dashboard.models import Course, User

    def make(instructor: Any, *students: Any, slug: str = "") -> Any:
        slug = slug or f"class-of-{instructor.username}"
        course, _ = Course.objects.get_or_create(slug=slug, defaults={"name": slug})
        course.instructors.add(instructor)
        for student in students:
            if isinstance(student, str):
                found = User.objects.filter(username=student).first()
                student = found or create_user(student, "student", "pass-for-tests")[0]
            course.students.add(student)
        instructor.__dict__.pop("taught", None)  # a fact loaded with the user: load it again
        return course

    return make


@pytest.fixture
def admin_user(make_user: Callable[..., Any]) -> Any:
    return make_user("admin1", "admin", ADMIN_PASSWORD)


@pytest.fixture
def admin_client(client: Any, admin_user: Any) -> Any:
    client.force_login(admin_user)
    return client


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def admin_api(api_client: Any, admin_user: Any) -> Any:
    """The API as the admin."""
    api_client.force_authenticate(admin_user)
    return api_client


@pytest.fixture
def student_api(api_client: Any, student: Any) -> Any:
    """The API as the test module's own `student` fixture (each module names its student)."""
    api_client.force_authenticate(student)
    return api_client


# ---------------------------------------------------------------- the real engine


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """docker-py on the engine the dashboard uses; tests use it (or the CLI) as the judge."""
    import docker
    from django.conf import settings

    try:
        client = docker.DockerClient(base_url=settings.DOCKER_HOST, version="auto", timeout=60)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no engine
        rig.missing(f"no Docker engine answers at {settings.DOCKER_HOST}: {exc}")
    yield client
    rig.remove_test_resources(client)
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: Any) -> str:
    """A tiny busybox image built offline for this run; returns its tag."""
    if not rig.BUSYBOX.exists():
        rig.missing("/bin/busybox is missing (apt-get install busybox-static)")
    tag = f"dockdash-test-busybox:{RUN_ID}"
    rig.build_busybox_image(docker_client, tag)
    return tag


@pytest.fixture
def make_container(docker_client: Any, test_image: str) -> Iterator[Callable[..., Any]]:
    """Create labelled containers from the test image (running `sleep` unless told otherwise)."""
    made: list[Any] = []

    def make(command: Any = ("sleep", "3600"), *, start: bool = True, **kwargs: Any) -> Any:
        labels = {**LABELS, **kwargs.pop("labels", {})}
        container = docker_client.containers.create(
            kwargs.pop("image", test_image),
            command=list(command) if command else None,
            labels=labels,
            **kwargs,
        )
        made.append(container)
        if start:
            container.start()
        container.reload()
        return container

    yield make
    for container in made:
        with contextlib.suppress(Exception):  # the test may have removed it
            container.remove(force=True, v=True)


# ---------------------------------------------------------------- registry server


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.RegistryServer]:
    server = rig.start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


# ---------------------------------------------------------------- LDAP directory (slapd)


@pytest.fixture(scope="session")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    server = start_ldap_server(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture
def ldap_signin(
    ldap_server: LdapServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., None]]:
    """Directory sign-in on, against the test directory, as DOCKDASH_LDAP_* would set it
    (call it again with variables to change, e.g. DOCKDASH_LDAP_GROUP_TYPE); the
    directory's changes of the test are undone after it."""
    from dashboard.envconf import env_ldap

    backends = [*settings.AUTHENTICATION_BACKENDS, "dashboard.ldap_directory.DirectoryBackend"]

    def configure(**env: str) -> None:
        for name, value in ldap_server.env(**env).items():
            monkeypatch.setenv(name, value)
        for name, value in env_ldap(settings.LDAP_ROLES).items():
            setattr(settings, name, value)
        settings.LDAP_ENABLED = True
        settings.AUTHENTICATION_BACKENDS = backends

    configure()
    yield configure
    ldap_server.undo_changes()


# ---------------------------------------------------------------- live dashboard + browser


@pytest.fixture(scope="session")
def live_server_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.LiveServer]:
    workdir = tmp_path_factory.mktemp("live")
    with rig.live_server_with_users(workdir, {"admin": "admin"}, ADMIN_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def engine_proxy() -> Iterator[CountingEngineProxy]:
    """The real engine socket behind a proxy that counts `/system/df` calls, one per module."""
    with counting_engine_proxy("dd-df-") as proxy:
        yield proxy


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests first (after pytest-django has put the rest in its order): the
    longest piece of a parallel run starts at once, beside the others."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/browser/"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """In parallel (`make test`), the tests of a file run together on one worker, so its
    module fixtures start once, and the browser tests go first, all to one worker, one after
    the other (one Chromium at a time: two or more on two cores time out; and see
    tests/browser/conftest.py's `chromium`).

    pytest-django orders the collection: tests in a rolled-back transaction first, then those
    whose database is emptied after them (which takes the rows migrations made), then the rest.
    A file whose tests are of two kinds is two pieces, handed out in that order, so a worker
    never runs a test that needs the migrations' rows after one that emptied its database."""
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            self.pieces: dict[str, str] = {}
            self.last = ""
            self.seen: dict[str, int] = {}

        def _split_scope(self, nodeid: str) -> str:
            # Asked first for every test in collection order (schedule()), then again.
            if nodeid not in self.pieces:
                path = nodeid.split("::", 1)[0]
                if path.startswith("tests/browser/"):
                    path = "tests/browser"
                elif path != self.last:
                    self.seen[path] = self.seen.get(path, -1) + 1
                self.last = path
                self.pieces[nodeid] = f"{path}#{self.seen.get(path, 0)}"
            return self.pieces[nodeid]

    return FileScheduling(config, log)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save what `page` shows as test-artifacts/<name>.png (a folder git ignores)."""
    rig.ARTIFACTS.mkdir(exist_ok=True)
    target = rig.ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    return target


def record_script_errors(page: Any) -> None:
    """Keep what `page`'s scripts throw and log as errors, for `screenshot_on_failure`."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and errors.append(f"console: {msg.text}"))
    page.script_errors = errors


NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"
LOADS = 3  # tries of a page load that Chromium cut short


def load_again_if_cut(page: Any) -> None:
    """Make `page.goto` load the page again when Chromium ended one of its requests with
    ERR_NETWORK_CHANGED, as a person would reload. Chromium ends the requests under way,
    loopback ones too, whenever the host's addresses change: the engine adds a veth pair
    for each container another test starts meanwhile."""
    goto = page.goto
    cut: list[Any] = []
    page.on("requestfailed", lambda r: r.failure == NETWORK_CHANGED and cut.append(r))

    def goto_whole(url: str, **kwargs: Any) -> Any:
        for _ in range(LOADS):
            cut.clear()
            response = goto(url, **kwargs)
            if not cut:
                break
        return response

    page.goto = goto_whole


def screenshot_on_failure(request: pytest.FixtureRequest, page: Any, suffix: str = "") -> None:
    """After a failed test, save `page` as test-artifacts/<test name><suffix>.png, and print
    its title, the start of its text and its script errors (CI keeps only the log)."""
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            target = screenshot(page, request.node.name + suffix, full_page=True)
            print(f"screenshot saved: {target}")
            text = " ".join(page.inner_text("body", timeout=2000).split())
            print(f"page {page.url} title {page.title()!r}: {text[:600]}")
        except Exception as exc:  # noqa: BLE001 - the page may be gone
            print(f"no screenshot: {exc}")
        for error in getattr(page, "script_errors", []):
            print(f"script error: {error}")


def field(page: Any, name: str) -> str:
    """The text of the first element a page marks with `data-field="<name>"`."""
    return page.locator(f'[data-field="{name}"]').first.inner_text().strip()


def login(page: Any, base_url: str, username: str, password: str) -> None:
    send_login(page, base_url, username, password)
    signed_in(page)


def send_login(page: Any, base_url: str, username: str, password: str) -> None:
    """Send the login form without waiting for its answer (so that several people can sign
    in at once; `signed_in` waits)."""
    page.goto(base_url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]", no_wait_after=True)


def signed_in(page: Any) -> None:
    """Wait until the login form's answer led away from it."""
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture
def tmp_socket_dir() -> Iterator[Path]:
    """A short folder for unix sockets (their paths are limited to ~100 bytes)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="dd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
