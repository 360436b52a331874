"""Settings for the test process: the live servers' (the real ones with a fast hasher), with a
throwaway key."""

import os

os.environ.setdefault("SECRET_KEY", "dockdash-tests-only-not-secret")
# Lab networks the tests make take their subnets from the benchmarking range, which no
# network of this host or its users' uses (servers the tests start inherit it).
# Each worker of a parallel run (make test) has its own part, and its own block of host
# ports: two test databases do not know each other's seats, and would give two labs the
# same free subnet or ports at once. (The workers inherit the environment of the process
# that started them, so theirs is set here, not only defaulted.)
# Five workers fit: /19s of 198.19.0.0/16 and 2,000-port blocks of 20000-29999.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 5
_PORTS = 20000 + 2000 * _WORKER
_OWN = {
    "DOCKDASH_LAB_SUBNETS": f"198.19.{32 * _WORKER}.0/19",
    "DOCKDASH_STUDENT_PORT_RANGE": f"{_PORTS}-{_PORTS + 1999}",
}
for _name, _value in _OWN.items():
    if "PYTEST_XDIST_WORKER" in os.environ or _name not in os.environ:
        os.environ[_name] = _value
# The culler runs in servers only when a test starts one (it would stop other tests' labs).
os.environ.setdefault("DOCKDASH_CULL", "0")
# Likewise history writing: a test that wants it starts a server with it on.
os.environ.setdefault("DOCKDASH_STATS_HISTORY", "0")
# And alerts, whose engine keeps the sampler sweeping.
os.environ.setdefault("DOCKDASH_ALERTS", "0")

from tests.live_settings import *  # noqa: E402,F403

# No sweep for interrupted jobs in the test process (its thread would meet the test database
# blocker); the servers tests start run theirs, each on its own database.
JOB_RECOVERY = False

# SQLite: a test database in a file, as deployments have, not Django's shared in-memory one,
# where threads writing at once (a class job's workers) fail with "table is locked" at once
# instead of waiting their turn.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": f"/tmp/dockdash-test-{os.getpid()}.sqlite3"  # noqa: S108 - a throwaway file
    }
    DATABASES["default"]["OPTIONS"] = {  # noqa: F405
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
    }
