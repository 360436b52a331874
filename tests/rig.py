"""The test rig: the real engine, a real registry server and a real dashboard server.

Everything a test creates on the engine carries the label `dockdash.test=<RUN_ID>`
and is removed at the end of the session, so other containers on the host are
never touched and concurrent runs keep out of each other's way.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
RUN_ID = os.environ.get("DOCKDASH_TEST_RUN_ID") or uuid.uuid4().hex[:10]
TEST_LABEL = "dockdash.test"
LABELS = {TEST_LABEL: RUN_ID}
IN_CI = bool(os.environ.get("CI"))
BUSYBOX = Path("/bin/busybox")
CLEANUP_WORKERS = 8  # removals asked of the engine at once at the end of a run


def missing(what: str) -> None:
    """A prerequisite is absent: fail in CI (a skipped test there is a failed test), skip here."""
    if IN_CI:
        pytest.fail(f"{what} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(what)


def wait_for(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last_error = exc
        else:
            if result:
                return result
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}; last error: {last_error!r}"
    )


def by_file(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A cgroup report's rows by the name of their file (`file:key` for one key of a file)."""
    return {Path(r["file"]).name + (":" + r["key"] if "key" in r else ""): r for r in rows}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_cli(*args: str, check: bool = True, timeout: float = 60) -> str:
    """Run the Docker CLI (the judge of what the engine holds) and return its stdout."""
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def load_settings(then: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """Start Django on dashboard.settings in a new process, with `env` added to this
    process's environment less SECRET_KEY and DOCKDASH_DEBUG (a test sets those it wants),
    and run the Python code `then` in it."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DOCKDASH_DEBUG"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="dashboard.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + then],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def docker_inspect(ref: str) -> dict[str, Any]:
    return json.loads(docker_cli("inspect", ref))[0]


def docker_run_labelled(name: str, image: str, *command: str, owner: str = "") -> str:
    """`docker run -d` through the CLI (not the dashboard), with the run's test label and,
    if given, an owner label; returns the CLI's output (the new container's id)."""
    labels = ["--label", f"{TEST_LABEL}={RUN_ID}"]
    if owner:
        labels += ["--label", f"dockdash.owner={owner}"]
    return docker_cli("run", "-d", "--name", name, *labels, image, *command)


async def frames_within(communicator: Any, seconds: float) -> list[dict[str, Any]]:
    """Every JSON frame a websocket communicator receives within `seconds` (without
    timing the consumer out)."""
    loop = asyncio.get_running_loop()
    end, frames = loop.time() + seconds, []
    while loop.time() < end:
        if not await communicator.receive_nothing(timeout=0.05):
            frames.append(await communicator.receive_json_from())
    return frames


def build_busybox_image(client: Any, tag: str) -> str:
    """Build `tag` offline: FROM scratch + Debian's static busybox, applets installed."""
    dockerfile = (
        b"FROM scratch\n"
        b"COPY busybox /bin/busybox\n"
        b'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        b'CMD ["sh"]\n'
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(str(BUSYBOX), arcname="busybox")
    buf.seek(0)
    image, _ = client.images.build(
        fileobj=buf, custom_context=True, tag=tag, labels=LABELS, rm=True, forcerm=True
    )
    return str(image.id)


def remove_test_resources(client: Any, label: str = f"{TEST_LABEL}={RUN_ID}") -> None:
    """Remove everything carrying `label` (by default this run's id): containers, networks,
    volumes, images; several at a time (the engine takes a tenth of a second or more for
    each, and a class lab leaves dozens). Each removal may find its object gone already,
    the state it wants."""
    flt = {"label": label}
    with ThreadPoolExecutor(CLEANUP_WORKERS) as pool:
        for remove, found in (
            (_remove_container, client.containers.list(all=True, filters=flt)),
            (_remove_network, client.networks.list(filters=flt)),
            (_remove_volume, client.volumes.list(filters=flt)),
        ):
            list(pool.map(remove, found))  # each kind once the one before is gone
    for img in client.images.list(filters=flt):
        with contextlib.suppress(Exception):
            client.images.remove(img.id, force=True)


def _remove_container(container: Any) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True, v=True)


def _remove_network(network: Any) -> None:
    with contextlib.suppress(Exception):
        network.reload()
        for attached in network.attrs.get("Containers") or {}:
            with contextlib.suppress(Exception):
                network.disconnect(attached, force=True)
        network.remove()


def _remove_volume(volume: Any) -> None:
    with contextlib.suppress(Exception):
        volume.remove(force=True)


MAKE_CLASS = """\
from dashboard.accounts import create_user
from dashboard.models import Course
course = Course.objects.create(name={slug!r}, slug={slug!r})
course.instructors.add(create_user({teacher!r}, "instructor", {password!r})[0])
course.students.add(*(create_user(name, "student", {password!r})[0] for name in {students!r}))
for lab in {labs!r}:
    course.labs.create(**lab)
"""


def make_class_command(
    slug: str,
    teacher: str,
    password: str,
    students: Sequence[str] = (),
    labs: Sequence[dict[str, Any]] = (),
) -> list[str]:
    """The management command that makes what LiveServer.make_class makes."""
    made = MAKE_CLASS.format(
        slug=slug, teacher=teacher, password=password, students=[*students], labs=[*labs]
    )
    return ["shell", "-c", made]


# Runs the management commands given as JSON in argv[1], each one's output (what it
# writes and what it prints) kept apart; the outputs as JSON on the last line.
_MANAGE_EACH = """
import contextlib, io, json, sys
import django
from django.core.management import call_command
django.setup()
outputs = []
for command in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        call_command(*command, stdout=out)
    outputs.append(out.getvalue())
print(json.dumps(outputs))
"""


def manage_each(env: dict[str, str], *commands: Sequence[str]) -> list[str]:
    """Several management commands, in order, in one process with environment `env` (Django
    starts once, not once per command: a second or more each on this host); each one's output."""
    proc = subprocess.run(
        [sys.executable, "-c", _MANAGE_EACH, json.dumps([list(c) for c in commands])],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        shown = "; ".join(" ".join(c) for c in commands)
        raise AssertionError(f"manage.py {shown} failed: {proc.stderr[-2000:]}")
    outputs: list[str] = json.loads(proc.stdout.splitlines()[-1])
    return outputs


@dataclass
class LiveServer:
    """A real dashboard: daphne serving the project on a free port, with its own database."""

    url: str
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    # What the commands start_live_server ran for it (after making its users) printed.
    setup_output: list[str] = field(default_factory=list)

    def manage(self, *args: str) -> str:
        """`manage.py ARGS` on this server's settings and database; its output."""
        return self.manage_each(args)[0]

    def manage_each(self, *commands: Sequence[str]) -> list[str]:
        """Several management commands on this server's settings and database."""
        return manage_each(self.env, *commands)

    def make_class(
        self,
        slug: str,
        teacher: str,
        password: str,
        students: Sequence[str] = (),
        labs: Sequence[dict[str, Any]] = (),
    ) -> None:
        """A class `slug` taught by a new instructor, with new students (all with `password`)
        and labs (Lab fields), made in this server's database."""
        self.manage(*make_class_command(slug, teacher, password, students, labs))

    def adduser_command(self, name: str, role: str, password: str) -> list[str]:
        """The `adduser` command that makes `name` with `role` and `password`."""
        pw = self.workdir / f"{name}.pw"
        pw.write_text(password)
        return ["adduser", name, "--role", role, "--password-file", str(pw)]

    def add_user(self, name: str, role: str, password: str) -> None:
        self.manage(*self.adduser_command(name, role, password))

    def serve(self) -> None:
        """Start daphne on this server's port (again, after `stop`) and wait until it answers."""
        port = self.url.rsplit(":", 1)[1]
        with open(self.log_path, "ab") as log:  # daphne keeps its own copy of the file
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", port]
                + ["dashboard.asgi:application"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"daphne exited: {self.log()[-2000:]}")
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:  # noqa: S310
                return r.status == 200

        wait_for(healthy, timeout=30, interval=0.1, what=f"daphne on {self.url}")

    def stop(self) -> None:
        if not self.terminate(within=10):
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def terminate(self, *, within: float) -> bool:
        """SIGTERM, as a service manager stops it: whether the server has ended `within`
        seconds later (True when it was not running)."""
        if self.process is None or self.process.poll() is not None:
            return True
        self.process.terminate()
        try:
            self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            return False
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# The settings of every server and management command the tests start: dashboard.settings with
# a fast password hasher (the settings tests load dashboard.settings itself: load_settings).
LIVE_SETTINGS = "tests.live_settings"
MIGRATE = ["migrate", "--noinput", "-v", "0"]
# An SQLite database migrated once per run, which each live server starts from a copy of
# (migrating takes seconds on a busy host; what it makes depends on no setting): the test
# process's own once it is migrated (keep_migrated_sqlite), else one migrated for them.
MIGRATED_SQLITE = Path(tempfile.gettempdir()) / f"dockdash-migrated-{RUN_ID}-{os.getpid()}.sqlite3"
atexit.register(MIGRATED_SQLITE.unlink, missing_ok=True)


def keep_migrated_sqlite(connection: Any) -> None:
    """Keep the database of `connection` (the test process's, just migrated, nothing else
    in it yet) as the one live servers start from, unless it is not SQLite."""
    if connection.vendor != "sqlite" or MIGRATED_SQLITE.exists():
        return
    making = MIGRATED_SQLITE.with_suffix(".making")
    making.unlink(missing_ok=True)
    connection.ensure_connection()
    with contextlib.closing(sqlite3.connect(making)) as copy:
        connection.connection.backup(copy)  # whatever its write-ahead log still holds too
        copy.execute("PRAGMA journal_mode=DELETE")  # as a database the servers made would be
    making.rename(MIGRATED_SQLITE)


def copy_migrated_sqlite(env: dict[str, str], target: Path) -> None:
    """`target`: an SQLite database with every migration applied and nothing else."""
    if not MIGRATED_SQLITE.exists():
        making = MIGRATED_SQLITE.with_suffix(".making")
        making.unlink(missing_ok=True)
        manage_each({**env, "DATABASE_URL": f"sqlite:///{making}"}, MIGRATE)
        making.rename(MIGRATED_SQLITE)  # whole or not at all
    shutil.copyfile(MIGRATED_SQLITE, target)


def start_live_server(
    workdir: Path,
    *,
    docker_host: str | None = None,
    extra_env: dict[str, str] | None = None,
    users: Mapping[str, tuple[str, str]] | None = None,
    commands: Sequence[Sequence[str]] = (),
) -> LiveServer:
    """A live dashboard on a migrated database of its own, with `users` (name: (role,
    password)) made before it serves, then management `commands` run (in the same process:
    Django starts once); what those print is in `setup_output`."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE=LIVE_SETTINGS,
        SECRET_KEY="dockdash-live-test-key-" + RUN_ID,
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        DOCKDASH_STATIC_ROOT=str(workdir / "static"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    if docker_host:
        env["DOCKDASH_DOCKER_HOST"] = docker_host
    server = LiveServer(url=f"http://127.0.0.1:{port}", workdir=workdir, env=env)
    setup: list[Sequence[str]] = [
        server.adduser_command(name, *made) for name, made in (users or {}).items()
    ]
    setup += commands
    own_sqlite = workdir / "db.sqlite3"
    if env["DATABASE_URL"] == f"sqlite:///{own_sqlite}":
        copy_migrated_sqlite(env, own_sqlite)
    else:
        setup.insert(0, MIGRATE)
    if setup:
        server.setup_output = server.manage_each(*setup)[len(setup) - len(commands) :]
    server.log_path = workdir / "daphne.log"
    server.serve()
    return server


@contextlib.contextmanager
def quiet_server(
    argv: list[str], ready: Callable[[], bool], *, timeout: float, what: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process with its output discarded, running once `ready()` answers true;
    terminated on leaving (allowed `timeout` seconds both to come up and to go down)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(ready, timeout=timeout, what=what)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def live_server_with_users(
    workdir: Path,
    users: dict[str, str],
    password: str,
    *,
    docker_host: str | None = None,
    extra_env: dict[str, str] | None = None,
    commands: Sequence[Sequence[str]] = (),
) -> Iterator[LiveServer]:
    """A live dashboard server with `users` (name: role), all with `password`, and what
    management `commands` make; stopped on leaving."""
    server = start_live_server(
        workdir,
        docker_host=docker_host,
        extra_env=extra_env,
        users={name: (role, password) for name, role in users.items()},
        commands=commands,
    )
    try:
        yield server
    finally:
        server.stop()


@dataclass
class RegistryServer:
    host: str  # 127.0.0.1:PORT, the name the engine pushes to
    url: str
    username: str
    password: str
    workdir: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_registry(
    workdir: Path, *, username: str = "student", password: str = "registry-pass-1"
) -> RegistryServer:
    """docker-registry serve on a free loopback port, htpasswd auth, its own storage folder."""
    for tool in ("/usr/bin/docker-registry", "htpasswd"):
        if not shutil.which(tool):
            missing(f"{tool} is not installed (apt-get install docker-registry apache2-utils)")
    workdir.mkdir(parents=True, exist_ok=True)
    htpasswd = subprocess.run(
        ["htpasswd", "-Bbn", username, password], capture_output=True, text=True, check=True
    ).stdout
    (workdir / "htpasswd").write_text(htpasswd)
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: dockdash-test\n    path: {workdir / 'htpasswd'}\n"
    )
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        ["/usr/bin/docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    server = RegistryServer(
        host=f"127.0.0.1:{port}",
        url=f"http://127.0.0.1:{port}",
        username=username,
        password=password,
        workdir=workdir,
        process=process,
    )

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError((workdir / "registry.log").read_text()[-2000:])
        try:
            urllib.request.urlopen(server.url + "/v2/", timeout=2)  # noqa: S310
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        return False

    wait_for(answering, timeout=20, interval=0.1, what=f"docker-registry on {server.url}")
    return server


class SocketProxy:
    """A unix socket that forwards to the real engine socket, and can be switched off.

    Switching it off closes every open connection, as a stopped daemon would, so
    the dashboard sees the engine go away and come back without touching dockerd.
    """

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock"):
        self.path = path
        self.upstream = upstream
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()
        self.path.unlink(missing_ok=True)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.upstream)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._forward, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._backward, args=(upstream, client), daemon=True).start()

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        """What the client sends, to the engine (a subclass may look at it on the way)."""
        self._pump(client, upstream)

    def _backward(self, upstream: socket.socket, client: socket.socket) -> None:
        """What the engine answers, to the client (a subclass may look at it on the way)."""
        self._pump(upstream, client)

    @staticmethod
    def _pump(
        src: socket.socket, dst: socket.socket, look: Callable[[bytes], None] | None = None
    ) -> None:
        try:
            while data := src.recv(65536):
                if look is not None:
                    look(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            SocketProxy.shut_both(src, dst)

    @staticmethod
    def shut_both(a: socket.socket, b: socket.socket) -> None:
        """End a forwarded connection both ways (the other pump then ends too)."""
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def logged_in(user: Any) -> Any:
    """A Django test client with `user`'s session (force_login: django-axes breaks login())."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def post_json(client: Any, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")
