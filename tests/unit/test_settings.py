from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.envconf import database_from_url, env_bool, env_int, env_list, env_oidc
from tests.rig import load_settings


def test_env_bool_refuses_words_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DD_FLAG"):
        env_bool("DD_FLAG")
    monkeypatch.setenv("DD_FLAG", "Yes")
    assert env_bool("DD_FLAG") is True
    monkeypatch.setenv("DD_FLAG", "off")
    assert env_bool("DD_FLAG", True) is False


def test_env_int_names_the_variable_and_checks_the_minimum(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DD_N", "ten")
    with pytest.raises(ImproperlyConfigured, match="DD_N must be a whole number"):
        env_int("DD_N", 1)
    monkeypatch.setenv("DD_N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("DD_N", 5, minimum=1)
    monkeypatch.delenv("DD_N")
    assert env_int("DD_N", 5) == 5


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_L", " a.example, ,b.example ")
    assert env_list("DD_L") == ["a.example", "b.example"]


def test_database_urls() -> None:
    assert database_from_url("sqlite:////tmp/x/db.sqlite3")["NAME"] == "/tmp/x/db.sqlite3"
    pg = database_from_url("postgres://dd:s%40cret@db.local:5433/dockdash")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "dd",
        "s@cret",
        "db.local",
        "5433",
        "dockdash",
    )
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://x/y")


def test_refuses_to_start_without_secret_key_unless_debug() -> None:
    refused = load_settings()
    assert refused.returncode != 0
    assert "SECRET_KEY is not set" in refused.stderr
    assert load_settings(DOCKDASH_DEBUG="1").returncode == 0
    assert load_settings(SECRET_KEY="x" * 50).returncode == 0


def test_bad_setting_value_is_a_clear_error() -> None:
    proc = load_settings(SECRET_KEY="x" * 50, DOCKDASH_DOCKER_TIMEOUT="soon")
    assert proc.returncode != 0
    assert "DOCKDASH_DOCKER_TIMEOUT must be a whole number, not 'soon'" in proc.stderr


def test_new_api_tokens_may_not_outlive_the_longest_lifetime() -> None:
    proc = load_settings(
        SECRET_KEY="x" * 50, DOCKDASH_API_TOKEN_DAYS="400", DOCKDASH_API_TOKEN_MAX_DAYS="365"
    )
    assert proc.returncode != 0
    assert "DOCKDASH_API_TOKEN_DAYS (400) must not exceed DOCKDASH_API_TOKEN_MAX_DAYS" in (
        proc.stderr
    )


OIDC = {
    "DOCKDASH_OIDC_ISSUER": "https://sso.school.test/realms/school/",
    "DOCKDASH_OIDC_CLIENT_ID": "dockdash",
    "DOCKDASH_OIDC_CLIENT_SECRET": "s3cret",
}
ROLES = ("admin", "instructor", "student", "viewer")


def oidc_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in [*OIDC, *env]:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**OIDC, **env}.items():
        monkeypatch.setenv(name, value)
    return env_oidc(ROLES)


def test_openid_connect_is_off_without_an_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert oidc_settings(monkeypatch, DOCKDASH_OIDC_ISSUER="") == {"OIDC_ISSUER": ""}


def test_openid_connect_settings_and_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    found = oidc_settings(monkeypatch, DOCKDASH_OIDC_ROLE_GROUPS="instructor=teachers")
    assert found["OIDC_ISSUER"] == "https://sso.school.test/realms/school"
    assert (found["OIDC_RP_CLIENT_ID"], found["OIDC_RP_CLIENT_SECRET"]) == ("dockdash", "s3cret")
    assert found["OIDC_RP_SCOPES"] == "openid email profile"
    assert (found["OIDC_USERNAME_CLAIM"], found["OIDC_EMAIL_CLAIM"]) == (
        "preferred_username",
        "email",
    )
    assert found["OIDC_GROUPS_CLAIM"] == "groups"
    assert found["OIDC_ROLE_GROUPS"] == {"instructor": "teachers"}
    assert (found["OIDC_TIMEOUT"], found["OIDC_CREATE_USER"], found["OIDC_NAME"]) == (10, True, "")
    scopes = oidc_settings(monkeypatch, DOCKDASH_OIDC_SCOPES="openid,email groups email")
    assert scopes["OIDC_RP_SCOPES"] == "openid email groups"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DOCKDASH_OIDC_ISSUER": "sso.school.test"},
            "DOCKDASH_OIDC_ISSUER must be an http(s) URL",
        ),
        ({"DOCKDASH_OIDC_ISSUER": "https://sso.test/?realm=x"}, "DOCKDASH_OIDC_ISSUER must be"),
        ({"DOCKDASH_OIDC_CLIENT_ID": " "}, "DOCKDASH_OIDC_CLIENT_ID must be set when"),
        ({"DOCKDASH_OIDC_CLIENT_SECRET": ""}, "DOCKDASH_OIDC_CLIENT_SECRET must be set when"),
        ({"DOCKDASH_OIDC_SCOPES": "email profile"}, "DOCKDASH_OIDC_SCOPES must include openid"),
        ({"DOCKDASH_OIDC_GROUPS_CLAIM": "my groups"}, "DOCKDASH_OIDC_GROUPS_CLAIM must be a claim"),
        ({"DOCKDASH_OIDC_TIMEOUT": "0"}, "DOCKDASH_OIDC_TIMEOUT must be at least 0.5"),
        ({"DOCKDASH_OIDC_CREATE_USERS": "maybe"}, "DOCKDASH_OIDC_CREATE_USERS must be one of"),
        ({"DOCKDASH_OIDC_ROLE_GROUPS": "teacher=staff"}, "DOCKDASH_OIDC_ROLE_GROUPS must be"),
    ],
)
def test_a_bad_openid_connect_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        oidc_settings(monkeypatch, **env)


def test_a_bad_openid_connect_setting_stops_start_up() -> None:
    proc = load_settings(SECRET_KEY="x" * 50, **OIDC, DOCKDASH_OIDC_USERNAME_CLAIM="user name")
    assert proc.returncode != 0
    assert (
        "DOCKDASH_OIDC_USERNAME_CLAIM must be a claim name like preferred_username" in proc.stderr
    )
