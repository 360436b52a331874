from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.envconf import database_from_url, env_bool, env_int, env_list
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
