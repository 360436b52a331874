"""The DOCKDASH_LDAP_* variables: django-auth-ldap's settings from them, and each bad value
refused naming its variable (dashboard.envconf.env_ldap)."""

from __future__ import annotations

import ldap
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_auth_ldap.config import GroupOfNamesType, PosixGroupType

from dashboard.envconf import env_ldap
from dashboard.models import Role

ROLES = ("admin", "instructor", "student", "viewer")
GOOD = {
    "DOCKDASH_LDAP_URI": "ldaps://dir.school.test",
    "DOCKDASH_LDAP_BIND_DN": "cn=dockdash,ou=services,dc=school,dc=test",
    "DOCKDASH_LDAP_BIND_PASSWORD": "pw",
    "DOCKDASH_LDAP_USER_SEARCH": "ou=people,dc=school,dc=test",
    "DOCKDASH_LDAP_GROUP_SEARCH": "ou=groups,dc=school,dc=test",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_off_without_a_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKDASH_LDAP_URI", raising=False)
    assert env_ldap(ROLES) == {}
    assert settings.LDAP_ENABLED is False
    assert "dashboard.ldap_directory.DirectoryBackend" not in settings.AUTHENTICATION_BACKENDS


def test_the_settings_roles_are_the_models() -> None:
    assert tuple(Role.values) == settings.LDAP_ROLES


def test_a_good_environment_gives_django_auth_ldap_its_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv(
        "DOCKDASH_LDAP_USER_FILTER", "(&(objectClass=inetOrgPerson)(sAMAccountName=%(user)s))"
    )
    env.setenv("DOCKDASH_LDAP_ROLE_GROUPS", " instructor = Teachers ; admin=it-staff;")
    found = env_ldap(ROLES)
    assert found["AUTH_LDAP_SERVER_URI"] == "ldaps://dir.school.test"
    assert found["AUTH_LDAP_BIND_AS_AUTHENTICATING_USER"] is False
    assert found["AUTH_LDAP_USER_SEARCH"].base_dn == GOOD["DOCKDASH_LDAP_USER_SEARCH"]
    assert found["LDAP_USERNAME_ATTR"] == "sAMAccountName"
    assert isinstance(found["AUTH_LDAP_GROUP_TYPE"], GroupOfNamesType)
    assert found["AUTH_LDAP_GROUP_SEARCH"].filterstr == "(objectClass=groupOfNames)"
    assert found["LDAP_ROLE_GROUPS"] == {"instructor": "Teachers", "admin": "it-staff"}
    assert found["AUTH_LDAP_CONNECTION_OPTIONS"][ldap.OPT_NETWORK_TIMEOUT] == 5.0
    assert found["AUTH_LDAP_CONNECTION_OPTIONS"][ldap.OPT_TIMEOUT] == 5.0
    env.setenv("DOCKDASH_LDAP_GROUP_TYPE", "posixgroup")
    assert isinstance(env_ldap(ROLES)["AUTH_LDAP_GROUP_TYPE"], PosixGroupType)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DOCKDASH_LDAP_URI", "http://dir.school.test", "must start with ldap://"),
        ("DOCKDASH_LDAP_USER_SEARCH", "", "must be set when DOCKDASH_LDAP_URI is"),
        ("DOCKDASH_LDAP_USER_SEARCH", "people", "must be a DN"),
        ("DOCKDASH_LDAP_BIND_DN", "dockdash", "must be a DN"),
        ("DOCKDASH_LDAP_USER_FILTER", "(uid=%(name)s)", "must be an LDAP filter holding"),
        ("DOCKDASH_LDAP_USER_FILTER", "(&(uid=%(user)s)", "must be an LDAP filter holding"),
        ("DOCKDASH_LDAP_GROUP_TYPE", "groupOfUniqueNames", "must be one of groupOfNames"),
        ("DOCKDASH_LDAP_ROLE_GROUPS", "teacher=staff", "must be ROLE=GROUP pairs"),
        ("DOCKDASH_LDAP_ROLE_GROUPS", "instructor", "must be ROLE=GROUP pairs"),
        ("DOCKDASH_LDAP_ROLE_GROUPS", "admin=a;admin=b", "names the role admin twice"),
        ("DOCKDASH_LDAP_TIMEOUT", "soon", "must be a number"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    env: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    env.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=f"^{name} {says}"):
        env_ldap(ROLES)


def test_role_groups_need_the_group_search(env: pytest.MonkeyPatch) -> None:
    env.delenv("DOCKDASH_LDAP_GROUP_SEARCH")
    env.setenv("DOCKDASH_LDAP_ROLE_GROUPS", "instructor=teachers")
    with pytest.raises(ImproperlyConfigured, match="needs DOCKDASH_LDAP_GROUP_SEARCH"):
        env_ldap(ROLES)
    env.delenv("DOCKDASH_LDAP_ROLE_GROUPS")
    assert "AUTH_LDAP_GROUP_SEARCH" not in env_ldap(ROLES)
