"""Classes: who may see and change which, and their creation, changes and removal (audited).

Admins manage every class; an instructor the classes they teach (a new class
of theirs has them as an instructor); a student sees the classes they are in.
Anyone else is told a class does not exist, as for one that does not.

Every change writes one audit row, refusals included, as the gate's do: a
change first finds its class (lab, student) for the user inside `finding`,
whose refusal is that row; what the change then does audits itself (here, the
roster's row per student, the gate's rows of a class job's containers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from classes_app import labs
from dashboard import access
from dashboard.access import OWNER_LABEL, Perm
from dashboard.audit import audited, record
from dashboard.models import TAUGHT_ROLES, Course, Lab, Role, User
from dashboard.refusals import Forbidden, InUse, Invalid, Refusal

# Who is in the class by their directory groups (dashboard.directory): admins' to set, since
# an instructor naming a group would take its members from other instructors' classes.
DIRECTORY_KEYS = frozenset({"directory_group", "directory_staff_group"})
COURSE_KEYS = frozenset({"name", "slug", "instructors", "students"}) | DIRECTORY_KEYS
TEACHING_ROLES: tuple[str, ...] = (str(Role.INSTRUCTOR), str(Role.ADMIN))


def may_teach(user: Any) -> bool:
    return access.role_of(user) in TEACHING_ROLES


def visible_courses(user: Any) -> QuerySet[Course]:
    courses = Course.objects.prefetch_related("instructors", "students", "labs")
    role = access.role_of(user)
    if role == Role.ADMIN:
        return courses.all()
    if role == Role.INSTRUCTOR:
        return courses.filter(instructors=user)
    return courses.filter(students=user)


def course_for(user: Any, slug: str, *, manage: bool = True) -> Course:
    """The class `slug` if `user` may manage it (or, with manage=False, is in it)."""
    found = visible_courses(user).filter(slug=slug).first()
    if found is None or (manage and not may_teach(user)):
        raise access.not_found("class", slug)
    return found


def lab_of(course: Course, slug: str) -> Lab:
    found = course.labs.filter(slug=slug).first()
    if found is None:
        raise access.not_found("lab", slug)
    return found


@contextmanager
def finding(request: Any, action: str, kind: str, name: str) -> Iterator[None]:
    """The first step of change `action`: finding its target for the user. A refusal in
    the block (a class, lab or student they may not see) is the change's audit row."""
    try:
        yield
    except Refusal as exc:
        record(request, action, target_kind=kind, target_name=name, error=exc.message)
        raise


def course_to_change(request: Any, action: str, slug: str, *, manage: bool = True) -> Course:
    """`course_for` the user of `request`, for change `action` (a refusal audited)."""
    with finding(request, action, "class", slug):
        return course_for(request.user, slug, manage=manage)


def lab_to_change(request: Any, action: str, slug: str, lab: str, *, manage: bool = True) -> Lab:
    """Lab `lab` of class `slug`, for change `action` (a refusal audited)."""
    with finding(request, action, "lab", f"{slug}/{lab}"):
        return lab_of(course_for(request.user, slug, manage=manage), lab)


def student_of(user: Any, course: Course, username: Any) -> User:
    """A student of `course` whose lab `user` may act on (their own, or any if they teach it)."""
    name = str(username or "")
    found = course.students.filter(username=name).first()
    if found is None or not access.can(user, Perm.CONTROL, found.username):
        raise access.not_found("student", name)
    return found


def course_dict(course: Course, user: Any) -> dict[str, Any]:
    shown = may_teach(user)
    return {
        "name": course.name,
        "slug": course.slug,
        "instructors": sorted(u.username for u in course.instructors.all()),
        "students": sorted(u.username for u in course.students.all()) if shown else [],
        "labs": [labs.lab_dict(lab) for lab in course.labs.all()],
        **({key: getattr(course, key) for key in sorted(DIRECTORY_KEYS)} if shown else {}),
    }


def _users(names: Any, roles: tuple[str, ...], field: str) -> list[User]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Invalid(f"{field} is a list of usernames.", field)
    found = {u.username: u for u in User.objects.filter(username__in=names)}
    for name in names:
        user = found.get(name)
        if user is None:
            raise Invalid(f"No user named {name!r}.", field)
        if user.effective_role not in roles:
            raise Invalid(
                f"{name} is a {user.effective_role}, not one of {', '.join(roles)}.", field
            )
    return [found[n] for n in dict.fromkeys(names)]


def _enrolled(actor: Any, students: list[User]) -> list[User]:
    """`students`, if `actor` may put each of them in a class (dashboard.access.may_enrol)."""
    in_a_class = set(
        User.objects.filter(pk__in=[s.pk for s in students], courses__isnull=False).values_list(
            "pk", flat=True
        )
    )
    for student in students:
        refused = access.may_enrol(actor, student.username, in_a_class=student.pk in in_a_class)
        if refused:
            raise Forbidden(refused, "students")
    return students


def _fields(data: Mapping[str, Any], actor: Any, *, partial: bool) -> dict[str, Any]:
    unknown = sorted(set(data) - COURSE_KEYS)
    if unknown:
        raise Invalid(
            f"Unknown field {unknown[0]!r}; a class has {', '.join(sorted(COURSE_KEYS))}."
        )
    values: dict[str, Any] = {}
    if "name" in data or not partial:
        values["name"] = str(data.get("name") or "").strip()
        if not values["name"]:
            raise Invalid("A class needs a name.", "name")
    if "slug" in data or not partial:
        values["slug"] = labs.parse_slug(data.get("slug"))
    if "instructors" in data:
        values["instructors"] = _users(data["instructors"], TEACHING_ROLES, "instructors")
    if "students" in data:
        values["students"] = _enrolled(actor, _users(data["students"], TAUGHT_ROLES, "students"))
    for key in sorted(DIRECTORY_KEYS & set(data)):
        if access.role_of(actor) != Role.ADMIN:
            raise Forbidden("Only admins may tie a class to directory groups.", key)
        if not isinstance(data[key], str) or len(data[key]) > 255:
            raise Invalid(f"{key} is the name of a directory group (at most 255 characters).", key)
        values[key] = data[key].strip()
    return values


def _described(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [u.username for u in v] if isinstance(v, list) else v for k, v in values.items()}


def _audited_on(request: Any, action: str, course: Course) -> Any:
    return audited(
        request, action, target_kind="class", target_id=str(course.pk), target_name=course.slug
    )


def create_course(request: Any, data: Mapping[str, Any]) -> Course:
    user = request.user
    with audited(
        request, "class.create", target_kind="class", target_name=str(data.get("slug", ""))
    ) as row:
        if not may_teach(user):
            raise Forbidden(f"Your role ({access.role_of(user)}) may not create classes.")
        values = _fields(data, user, partial=False)
        row["params"] = _described(values)
        if Course.objects.filter(slug=values["slug"]).exists():
            raise Invalid(f"A class {values['slug']!r} already exists.", "slug")
        instructors = values.pop("instructors", [])
        if access.role_of(user) == Role.INSTRUCTOR and user not in instructors:
            instructors.append(user)
        students = values.pop("students", [])
        with transaction.atomic():
            course = Course.objects.create(**values)
            course.instructors.set(instructors)
            course.students.set(students)
        row["target_id"] = str(course.pk)
    return course


def update_course(request: Any, course: Course, data: Mapping[str, Any]) -> Course:
    with _audited_on(request, "class.update", course) as row:
        values = _fields(data, request.user, partial=True)
        row["params"] = _described(values)
        slug = values.get("slug", course.slug)
        if Course.objects.filter(slug=slug).exclude(pk=course.pk).exists():
            raise Invalid(f"A class {slug!r} already exists.", "slug")
        with transaction.atomic():
            for key in ("instructors", "students"):
                if key in values:
                    getattr(course, key).set(values.pop(key))
            for key, value in values.items():
                setattr(course, key, value)
            course.save()
    return course


def delete_course(request: Any, course: Course) -> None:
    """Remove the class, its roster and its labs (the containers they made stay theirs)."""
    with _audited_on(request, "class.delete", course):
        course.delete()


def _lab_params(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"containers": [c.get("name") for c in values["containers"]]}


def _free_slug(course: Course, slug: str, lab: Lab | None = None) -> None:
    others = course.labs.exclude(pk=lab.pk) if lab is not None else course.labs.all()
    if others.filter(slug=slug).exists():
        raise Invalid(f"The class already has a lab {slug!r}.", "slug")


def create_lab(request: Any, course: Course, data: Mapping[str, Any]) -> Lab:
    with audited(
        request,
        "lab.create",
        target_kind="lab",
        target_name=f"{course.slug}/{data.get('slug', '')}",
    ) as row:
        values = labs.parse_lab(data)
        row["params"] = _lab_params(values)
        _free_slug(course, values["slug"])
        lab = Lab.objects.create(course=course, **values)
        row["target_id"] = str(lab.pk)
    return lab


def _audited_on_lab(request: Any, action: str, lab: Lab) -> Any:
    return audited(request, action, target_kind="lab", target_id=str(lab.pk), target_name=str(lab))


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def _refuse_while_in_use(lab: Lab, then: str, field: str = "") -> None:
    """InUse while the students' containers of `lab` exist (any state): they are named and
    labelled by its slug, and removing them is a class job a person starts knowingly."""
    made = labs.class_containers(lab.course, lab=lab.slug)
    if made:
        students = len({row["labels"].get(OWNER_LABEL) for row in made})
        raise InUse(
            f"Lab {lab.slug} still has {_count(len(made), 'container')} "
            f"of {_count(students, 'student')}. "
            f"Stop and remove the class's lab containers first (Remove the lab's containers "
            f"on the class page, or POST /api/v1/classes/{lab.course.slug}/remove/ "
            f'{{"lab": "{lab.slug}"}}), then {then}.',
            field,
        )


def update_lab(request: Any, lab: Lab, data: Mapping[str, Any]) -> Lab:
    """Change `lab`: the keys given replace the stored ones, then the whole lab is checked
    again. Its students' copies are made from it at their next provision or reset; its
    slug names them, so it changes only while there are none."""
    with _audited_on_lab(request, "lab.update", lab) as row:
        values = labs.parse_lab(labs.changed(lab, data))
        row["params"] = {"changed": sorted(data), **_lab_params(values)}
        if values["slug"] != lab.slug:
            _free_slug(lab.course, values["slug"], lab)
            _refuse_while_in_use(lab, "change its slug", "slug")
        for key, value in values.items():
            setattr(lab, key, value)
        lab.save()
    return lab


def delete_lab(request: Any, lab: Lab) -> None:
    """Remove `lab` and its seats (each student's ports and subnet), once it has no
    containers left (InUse, 409, until then)."""
    with _audited_on_lab(request, "lab.delete", lab) as row:
        _refuse_while_in_use(lab, "remove the lab")
        row["params"] = {"seats": lab.seats.count()}
        lab.delete()
