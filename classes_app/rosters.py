"""Rosters: students pasted or uploaded as CSV (`username,full name,email`), or given as a list,
made into accounts (or found) and put in a class, one audit row each.

An existing account goes in only if the importer may take it (dashboard.access.may_enrol:
an instructor, a student in no class or in one of theirs); the others are answered
why, and the rest of the roster still goes in.

A password is generated for each account made, without look-alike characters
(dashboard.accounts), and answered once: it is kept nowhere.

A roster may also be a directory group (`sync_with_group`): the accounts it makes have no
password, their owners sign in against the directory (dashboard.ldap_directory).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from dashboard import access, accounts, directory
from dashboard.audit import audited
from dashboard.models import TAUGHT_ROLES, Course, Role, User
from dashboard.refusals import Forbidden, Invalid, Refusal

MAX_STUDENTS = 500


@dataclass(frozen=True)
class Entry:
    username: str
    full_name: str = ""
    email: str = ""


def _entry(username: Any, full_name: Any, email: Any, where: str, field: str) -> Entry:
    entry = Entry(
        str(username or "").strip(), str(full_name or "").strip(), str(email or "").strip()
    )
    try:
        accounts.check_username(entry.username)
        if entry.email:
            validate_email(entry.email)
    except ValidationError as exc:
        raise Invalid(f"{where}: {'; '.join(exc.messages)}", field) from None
    return entry


def _checked(entries: list[Entry], field: str) -> list[Entry]:
    if not entries:
        raise Invalid("The roster names no students.", field)
    if len(entries) > MAX_STUDENTS:
        raise Invalid(f"At most {MAX_STUDENTS} students at once, not {len(entries)}.", field)
    names = [e.username for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise Invalid(f"{', '.join(twice)} appear more than once.", field)
    return entries


def parse_csv(text: str) -> list[Entry]:
    """Rows `username,full name,email` (the last two may be empty; a header row is skipped)."""
    entries = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and cells[0].lower() == "username":
            continue
        if len(cells) > 3:
            raise Invalid(f"line {number}: at most three columns: username,full name,email.", "csv")
        cells += [""] * (3 - len(cells))
        username, full_name, email = cells[:3]
        entries.append(_entry(username, full_name, email, f"line {number}", "csv"))
    return _checked(entries, "csv")


def parse_students(items: Any) -> list[Entry]:
    """`[{"username", "full_name", "email"}, ...]`."""
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise Invalid("students is a list of {username, full_name, email}.", "students")
    entries = [
        _entry(i.get("username"), i.get("full_name"), i.get("email"), f"students[{n}]", "students")
        for n, i in enumerate(items)
    ]
    return _checked(entries, "students")


def parse_body(data: Mapping[str, Any]) -> list[Entry]:
    if "csv" in data:
        return parse_csv(str(data["csv"] or ""))
    if "students" in data:
        return parse_students(data["students"])
    raise Invalid('Give the roster as {"csv": "..."} or {"students": [...]}.')


def _names(full_name: str) -> tuple[str, str]:
    first, _, last = full_name.rpartition(" ") if " " in full_name else (full_name, "", "")
    return first[:150], last[:150]


def add_one(request: Any, course: Course, entry: Entry, *, group: str = "") -> dict[str, Any]:
    """Make `entry`'s account (or find it) and put it in `course`: one audit row.

    `group`: the directory group the entry comes from; an account made for it has no
    password (its owner signs in against the directory)."""
    answer: dict[str, Any] = {"username": entry.username, "full_name": entry.full_name}
    answer["email"] = entry.email
    try:
        with (
            audited(
                request, "class.roster.add", target_kind="user", target_name=entry.username
            ) as row,
            transaction.atomic(),
        ):
            user = User.objects.filter(username=entry.username).first()
            row["params"] = {"class": course.slug, "created": user is None}
            if group:
                row["params"]["group"] = group
            if user is None:
                user, password = accounts.create_user(
                    entry.username, str(Role.STUDENT), directory=bool(group)
                )
                if password:
                    answer["password"] = password
                user.first_name, user.last_name = _names(entry.full_name)
                user.email = entry.email
                user.save(update_fields=["first_name", "last_name", "email"])
            elif user.effective_role not in TAUGHT_ROLES:
                raise Invalid(f"{entry.username} is a {user.effective_role}, not a student.")
            else:
                refused = access.may_enrol(
                    request.user, user.username, in_a_class=user.courses.exists()
                )
                if refused:
                    raise Forbidden(refused)
            course.students.add(user)
            row["target_id"] = str(user.pk)
    except Refusal as exc:
        return {**answer, "error": exc.message}
    answer["created"] = row["params"]["created"]
    return answer


def import_roster(request: Any, course: Course, entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Each student's answer: made (with their password, this once), added, or why not."""
    return [add_one(request, course, entry) for entry in entries]


def remove_one(request: Any, course: Course, student: User, *, group: str = "") -> dict[str, Any]:
    """Take `student` out of `course` (their account and containers stay): one audit row."""
    params = {"class": course.slug, **({"group": group} if group else {})}
    with audited(
        request,
        "class.roster.remove",
        target_kind="user",
        target_id=str(student.pk),
        target_name=student.username,
        params=params,
    ):
        course.students.remove(student)
    return {"username": student.username, "full_name": student.get_full_name()}


def sync_with_group(request: Any, course: Course, group: str) -> dict[str, Any]:
    """Make `course`'s students the members of directory group `group`: accounts made for
    those who have none (no password: they sign in against the directory), members added
    as a roster adds them, and students not in the group taken out. One audit row for the
    whole (refusals included), then one per student added or taken out."""
    group = group.strip()
    with audited(
        request,
        "class.roster.sync",
        target_kind="class",
        target_id=str(course.pk),
        target_name=course.slug,
        params={"group": group},
    ) as row:
        if not group:
            raise Invalid("Name the directory group to take the students from.", "group")
        directory.require_ldap()
        from dashboard import ldap_directory  # python-ldap: an extra, there when LDAP is on

        members = ldap_directory.group_members(group)
        row["params"] = {"group": group, "members": len(members)}
    added = [
        add_one(request, course, Entry(m.username, m.full_name, m.email), group=group)
        for m in members
    ]
    gone = course.students.exclude(username__in=[m.username for m in members])
    removed = [remove_one(request, course, s, group=group) for s in gone.order_by("username")]
    return {"group": group, "students": added, "removed": removed}
