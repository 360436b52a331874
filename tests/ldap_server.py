"""A real LDAP directory for the tests: Debian's slapd on a free loopback port, serving a
school's tree from an mdb database in a folder of its own, and stopped at the end.

The tree (`dc=school,dc=test`): people ann and ben (students, in `os101-students`), ivy
(an instructor: in `teachers` and `os101-staff`), carl (in no group) and admin (a
directory person named as the dashboard's local admin); the groups both as
groupOfNames (`ou=groups`) and as posixGroup (`ou=posix`); a search account
`cn=dockdash,ou=services` that reads everything, which nobody else may.
Every password is `PASSWORD` but the search account's (`BIND_PASSWORD`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests import rig

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
BASE = "dc=school,dc=test"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
POSIX_GROUPS = f"ou=posix,{BASE}"
ROOT_DN, ROOT_PASSWORD = f"cn=root,{BASE}", "root-pass-for-tests"
BIND_DN, BIND_PASSWORD = f"cn=dockdash,ou=services,{BASE}", "search-pass-for-tests"
PASSWORD = "directory-pass-1"

PEOPLE_ROWS = [  # uid, given name, family name, uidNumber
    ("ann", "Ann", "Archer", 2001),
    ("ben", "Ben", "Baker", 2002),
    ("ivy", "Ivy", "Ives", 3001),
    ("carl", "Carl", "Cole", 2003),
    ("admin", "Adam", "Admin", 2004),
]
GROUP_ROWS = {  # cn: members
    "os101-students": ["ann", "ben"],
    "os101-staff": ["ivy"],
    "teachers": ["ivy"],
}

SCHEMAS = ("core", "cosine", "nis", "inetorgperson")


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(cn: str, base: str = GROUPS) -> str:
    return f"cn={cn},{base}"


def _config(workdir: Path) -> str:
    includes = "".join(f"include /etc/ldap/schema/{s}.schema\n" for s in SCHEMAS)
    return (
        includes
        + f"pidfile {workdir / 'slapd.pid'}\n"
        + "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        + "database mdb\nmaxsize 16777216\n"
        + f'suffix "{BASE}"\nrootdn "{ROOT_DN}"\nrootpw {ROOT_PASSWORD}\n'
        + f"directory {workdir / 'data'}\n"
        + "access to attrs=userPassword by anonymous auth by * none\n"
        + f'access to * by dn.exact="{BIND_DN}" read by self read by * none\n'
    )


def _entry(dn: str, *lines: str) -> str:
    return "\n".join([f"dn: {dn}", *lines]) + "\n\n"


def _tree() -> str:
    ldif = _entry(
        BASE, "objectClass: dcObject", "objectClass: organization", "o: School", "dc: school"
    )
    for ou in ("people", "groups", "posix", "services"):
        ldif += _entry(f"ou={ou},{BASE}", "objectClass: organizationalUnit", f"ou: {ou}")
    ldif += _entry(
        BIND_DN,
        "objectClass: organizationalRole",
        "objectClass: simpleSecurityObject",
        "cn: dockdash",
        f"userPassword: {BIND_PASSWORD}",
    )
    for uid, given, family, number in PEOPLE_ROWS:
        ldif += _entry(
            person_dn(uid),
            "objectClass: inetOrgPerson",
            "objectClass: posixAccount",
            f"uid: {uid}",
            f"cn: {given} {family}",
            f"givenName: {given}",
            f"sn: {family}",
            f"mail: {uid}@school.test",
            f"uidNumber: {number}",
            "gidNumber: 100",  # users: nobody's class
            f"homeDirectory: /home/{uid}",
            f"userPassword: {PASSWORD}",
        )
    for number, (cn, members) in enumerate(GROUP_ROWS.items(), start=5000):
        ldif += _entry(
            group_dn(cn),
            "objectClass: groupOfNames",
            f"cn: {cn}",
            *(f"member: {person_dn(uid)}" for uid in members),
        )
        ldif += _entry(
            group_dn(cn, POSIX_GROUPS),
            "objectClass: posixGroup",
            f"cn: {cn}",
            f"gidNumber: {number}",
            *(f"memberUid: {uid}" for uid in members),
        )
    return ldif


@dataclass
class LdapServer:
    uri: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    undo: list[str] = field(default_factory=list)

    def env(self, **more: str) -> dict[str, str]:
        """The dashboard's DOCKDASH_LDAP_* settings for this directory."""
        return {
            "DOCKDASH_LDAP_URI": self.uri,
            "DOCKDASH_LDAP_BIND_DN": BIND_DN,
            "DOCKDASH_LDAP_BIND_PASSWORD": BIND_PASSWORD,
            "DOCKDASH_LDAP_USER_SEARCH": PEOPLE,
            "DOCKDASH_LDAP_GROUP_SEARCH": GROUPS,
            "DOCKDASH_LDAP_ROLE_GROUPS": "instructor=teachers",
            "DOCKDASH_LDAP_TIMEOUT": "2",
            **more,
        }

    def start(self) -> None:
        log = open(self.workdir / "slapd.log", "ab")  # noqa: SIM115 - slapd keeps its copy
        with log:
            self.process = subprocess.Popen(
                [SLAPD, "-d", "0", "-f", str(self.workdir / "slapd.conf")] + ["-h", self.uri + "/"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            rig.wait_for(self._answers, timeout=20, interval=0.05, what=f"slapd on {self.uri}")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"slapd exited: {self.log()[-2000:]}")
        return self.ldap("ldapwhoami", check=False).returncode == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a frozen one cannot end
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.workdir / "slapd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def ldap(
        self, tool: str, ldif: str = "", *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """An ldap-utils tool (ldapmodify, ldapwhoami) against this server, as its root."""
        proc = subprocess.run(
            [tool, "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            input=ldif,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} failed: {proc.stderr.strip()}\n{ldif}")
        return proc

    def change(self, ldif: str, undo: str) -> None:
        """Apply `ldif` (ldapmodify changes) now, and `undo` when the test ends."""
        self.ldap("ldapmodify", ldif)
        self.undo.append(undo)

    def leave(self, uid: str, cn: str) -> None:
        """Take `uid` out of group `cn` (both kinds) until the test ends."""
        for base, attr, value in (
            (GROUPS, "member", person_dn(uid)),
            (POSIX_GROUPS, "memberUid", uid),
        ):
            dn = group_dn(cn, base)
            self.change(
                f"dn: {dn}\nchangetype: modify\ndelete: {attr}\n{attr}: {value}\n",
                f"dn: {dn}\nchangetype: modify\nadd: {attr}\n{attr}: {value}\n",
            )

    def undo_changes(self) -> None:
        while self.undo:
            self.ldap("ldapmodify", self.undo.pop())

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The directory down (connections refused), started again on leaving."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The directory hung: it accepts connections and answers nothing, until leaving."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)


def start_ldap_server(workdir: Path) -> LdapServer:
    for tool in (SLAPD, SLAPADD, "ldapmodify", "ldapwhoami"):
        if not shutil.which(tool):
            rig.missing(f"{tool} is not installed (apt-get install slapd ldap-utils)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir()
    config = workdir / "slapd.conf"
    config.write_text(_config(workdir))
    (workdir / "tree.ldif").write_text(_tree())
    subprocess.run(
        [SLAPADD, "-q", "-f", str(config), "-l", str(workdir / "tree.ldif")],
        capture_output=True,
        check=True,
        timeout=60,
    )
    port = rig.free_port()
    server = LdapServer(uri=f"ldap://127.0.0.1:{port}", port=port, workdir=workdir)
    server.start()
    return server
