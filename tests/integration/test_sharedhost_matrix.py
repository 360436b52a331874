"""Who may open or use the audit log, the user pages and the usage page: anonymous, two
students, an instructor, a viewer and an admin, for every page and API endpoint of them."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.engine]

ROLES = ["anonymous", "ann", "bob", "instructor", "viewer", "admin"]
STAFF = {"instructor": 200, "admin": 200}


@pytest.fixture
def people(make_user: Any, teach: Any, docker_client: Any) -> dict[str, Any]:
    found = {
        "anonymous": None,
        "ann": make_user("ann", "student"),
        "bob": make_user("bob", "student"),
        "carl": make_user("carl", "student"),  # in no class of the instructor's
        "instructor": make_user("ivy", "instructor"),
        "viewer": make_user("vic", "viewer"),
        "admin": make_user("root", "admin"),
    }
    teach(found["instructor"], found["ann"], found["bob"])
    return found


def as_(client: Any, people: dict[str, Any], who: str) -> Any:
    if people[who] is not None:
        client.force_login(people[who])
    return client


def expected(table: dict[str, int], who: str, *, others: int = 403, anonymous: int = 302) -> int:
    if who == "anonymous":
        return anonymous
    return table.get(who, others)


# (method, url template, data, {role: status}, status for everyone else, for anonymous)
MATRIX = [
    ("get", "/audit/", None, STAFF, 403, 302),
    ("get", "/audit/?action=login&user=ann", None, STAFF, 403, 302),
    ("get", "/audit/export.csv", None, STAFF, 403, 302),
    ("get", "/api/v1/audit/", None, STAFF, 403, 401),
    ("get", "/users/", None, STAFF, 403, 302),
    ("get", "/users/{ann}/", None, STAFF, 403, 302),
    ("get", "/users/quotas/", None, {"admin": 200}, 403, 302),
    ("get", "/users/me/", None, {r: 200 for r in ROLES[1:]}, 403, 302),
    ("post", "/users/create/", {"username": "fresh", "role": "student"}, STAFF, 403, 302),
    ("post", "/users/bulk/", {"usernames": "f1 f2", "role": "student"}, STAFF, 403, 302),
    ("post", "/users/{bob}/role/", {"role": "viewer"}, {"instructor": 302, "admin": 302}, 403, 302),
    (
        "post",
        "/users/{bob}/quota/",
        {"max_running": "1"},
        {"instructor": 302, "admin": 302},
        403,
        302,
    ),
    ("get", "/users/{carl}/", None, {"instructor": 404, "admin": 200}, 403, 302),
    (
        "post",
        "/users/{carl}/quota/",
        {"max_running": "1"},
        {"instructor": 404, "admin": 302},
        403,
        302,
    ),
    ("post", "/users/quotas/", {"role": "student"}, {"admin": 302}, 403, 302),
]


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize(("method", "url", "data", "allowed", "others", "anon"), MATRIX)
def test_permission_matrix(
    client: Any,
    people: dict[str, Any],
    who: str,
    method: str,
    url: str,
    data: dict[str, str] | None,
    allowed: dict[str, int],
    others: int,
    anon: int,
) -> None:
    path = url.format(ann=people["ann"].pk, bob=people["bob"].pk, carl=people["carl"].pk)
    before = list(User.objects.order_by("pk").values_list("username", "role"))
    response = getattr(as_(client, people, who), method)(path, data or {})
    want = expected(allowed, who, others=others, anonymous=anon)
    assert response.status_code == want, f"{who} {method} {path}"
    if want == 302 and who == "anonymous":
        assert response["Location"].startswith("/login/")
    if response.status_code in {302, 401, 403} and method == "post" and who not in allowed:
        # refused: nothing changed
        assert list(User.objects.order_by("pk").values_list("username", "role")) == before


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("ann", {"My usage", "My labs"}),
        ("viewer", set()),
        ("instructor", {"Audit", "Users", "My usage", "Classes"}),
        ("admin", {"Audit", "Users", "My usage", "Classes"}),
    ],
)
def test_the_navigation_shows_only_the_sections_the_role_may_open(
    client: Any, people: dict[str, Any], who: str, sees: set[str]
) -> None:
    import re

    body = as_(client, people, who).get("/users/me/")
    nav = re.search(r'<nav class="mainnav".*?</nav>', body.content.decode(), re.S)
    assert nav is not None
    labels = set(re.findall(r">([^<]+)</a>", nav.group(0)))
    # "My usage" is the user's own name in the header, linked for roles that own things.
    if re.search(r'<a class="who" href="/users/me/"', body.content.decode()):
        labels.add("My usage")
    assert labels & {"Audit", "Users", "My usage", "Classes", "My labs"} == sees


def test_a_student_cannot_read_another_students_usage_or_account(
    client: Any, people: dict[str, Any]
) -> None:
    client.force_login(people["bob"])
    assert client.get(f"/users/{people['ann'].pk}/").status_code == 403
    body = client.get("/users/me/").content.decode()
    assert "bob" in body and ">ann<" not in body
