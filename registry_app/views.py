"""Pages: registries, catalog browsing, pull/push/build forms, Docker Hub search, jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from containers_app.engine.images import local_image_names
from dashboard import access
from dashboard.access import Perm
from dashboard.audit import audited
from dashboard.refusals import PolicyViolation, Refusal
from registry_app import jobs, refs, services
from registry_app.forms import (
    BuildForm,
    CredentialForm,
    PullForm,
    PushForm,
    RegistryForm,
    SearchForm,
)
from registry_app.models import Job, Registry
from registry_app.v2client import RegistryClient, RegistryError

CATALOG_PAGE = 50
TAGS_PAGE = 20


def _registry_for_user(user: Any, pk: int, perm: Perm = Perm.VIEW) -> Registry:
    registry = get_object_or_404(Registry, pk=pk)
    if perm != Perm.VIEW:
        access.require_global(user, perm)
    return registry


def _browser(user: Any, registry: Registry) -> RegistryClient:
    """A catalog client for this user (Refused when they may not use the registry)."""
    services.check_registry_use(user, registry.host, registry, "registry")
    return RegistryClient.for_registry(registry, services.credential_for(user, registry, "pull"))


def _status_of(exc: Refusal) -> int:
    # A refusal answers 403; bad input re-renders the form with its errors.
    return 403 if getattr(exc, "status", 400) == 403 else 200


def _registry_jobs() -> QuerySet[Job]:
    """Pulls, pushes and builds: a class's jobs have their pages under the class."""
    return Job.objects.filter(kind__in=Job.Kind.values)


def _job_for_user(user: Any, pk: int) -> Job:
    return get_object_or_404(jobs.visible_to(user, _registry_jobs()), pk=pk)


def _visible_jobs(user: Any, limit: int) -> list[Job]:
    """The newest jobs the user may see."""
    return list(jobs.visible_to(user, _registry_jobs()).select_related("registry")[:limit])


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@require_GET
def registry_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "registry_app/registry_list.html",
        {
            "registries": Registry.objects.all(),
            "usable": set(services.usable_registries(user).values_list("pk", flat=True)),
            "may_manage": access.can(user, Perm.MANAGE_REGISTRIES),
            "may_create": access.can(user, Perm.CREATE),
            "jobs": _visible_jobs(user, 15),
            "search_form": SearchForm(),
        },
    )


def _registry_params(data: dict[str, Any]) -> dict[str, Any]:
    """What an audit row keeps of the registry form: never the password."""
    return {
        "url": data["url"],
        "username": data["username"],
        "password_changed": bool(data.get("password")),
        "credentials_scope": data["credentials_scope"],
        "allow_non_admins": data["allow_non_admins"],
    }


def _registry_form(request: HttpRequest, registry: Registry | None) -> HttpResponse:
    """Add a registry (`registry` None) or change one, audited; the form again if invalid."""
    form = RegistryForm(request.POST or None, instance=registry)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with audited(
            request,
            "registry.update" if registry else "registry.create",
            target_kind="registry",
            target_id=str(registry.pk) if registry else "",
            target_name=data["name"],
            params=_registry_params(data),
        ) as extra:
            saved = form.save()
            extra["target_id"] = str(saved.pk)
        messages.success(request, f"Registry {saved.name} {'saved' if registry else 'added'}.")
        return redirect("registries")
    return render(request, "registry_app/registry_form.html", {"form": form, "registry": registry})


@require_http_methods(["GET", "POST"])
def registry_create(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.MANAGE_REGISTRIES)
    return _registry_form(request, None)


@require_http_methods(["GET", "POST"])
def registry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _registry_form(request, _registry_for_user(request.user, pk, Perm.MANAGE_REGISTRIES))


@require_POST
def registry_delete(request: HttpRequest, pk: int) -> HttpResponse:
    registry = _registry_for_user(request.user, pk, Perm.MANAGE_REGISTRIES)
    services.delete_registry(request, registry)
    messages.success(request, f"Registry {registry.name} removed.")
    return redirect("registries")


@require_POST
def registry_test(request: HttpRequest, pk: int) -> HttpResponse:
    registry = _registry_for_user(request.user, pk, Perm.MANAGE_REGISTRIES)
    outcome = services.probe_registry(request, registry)
    if _is_htmx(request):
        return render(request, "registry_app/_test_result.html", {"outcome": outcome})
    (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("registries")


@require_GET
def registry_catalog(request: HttpRequest, pk: int) -> HttpResponse:
    registry = _registry_for_user(request.user, pk)
    last = request.GET.get("last", "")
    context: dict[str, Any] = {"registry": registry, "last": last, "error": None, "page": None}
    if registry.is_docker_hub:
        context["error"] = (
            "Docker Hub offers no catalog of its repositories: use the search instead."
        )
    else:
        try:
            context["page"] = _browser(request.user, registry).repositories(CATALOG_PAGE, last)
        except (RegistryError, refs.InputError) as exc:
            context["error"] = exc.message
    return render(request, "registry_app/catalog.html", context)


@require_GET
def registry_tags(request: HttpRequest, pk: int, repository: str) -> HttpResponse:
    registry = _registry_for_user(request.user, pk)
    last = request.GET.get("last", "")
    context: dict[str, Any] = {
        "registry": registry,
        "repository": repository,
        "last": last,
        "error": None,
        "tags": [],
        "page": None,
        "may_delete": access.can(request.user, Perm.MANAGE_REGISTRIES),
        "may_pull": access.can(request.user, Perm.CREATE),
    }
    try:
        refs.check_repository(repository)
        client = _browser(request.user, registry)
        page = client.tags(repository, TAGS_PAGE, last)
        context["page"] = page
        for tag in page.items:
            try:
                context["tags"].append(client.tag_detail(repository, tag))
            except RegistryError as exc:
                context["tags"].append({"tag": tag, "error": exc.message, "layers": []})
    except (RegistryError, refs.InputError) as exc:
        context["error"] = exc.message
    return render(request, "registry_app/tags.html", context)


@require_POST
def registry_tag_delete(request: HttpRequest, pk: int, repository: str, tag: str) -> HttpResponse:
    registry = _registry_for_user(request.user, pk, Perm.MANAGE_REGISTRIES)
    try:
        with audited(
            request,
            "registry.tag.delete",
            target_kind="registry",
            target_id=str(registry.pk),
            target_name=f"{registry.host}/{repository}:{tag}",
        ):
            credential = services.credential_for(request.user, registry, "push")
            digest = RegistryClient.for_registry(registry, credential).delete_tag(repository, tag)
    except RegistryError as exc:
        messages.error(request, f"{repository}:{tag} was not deleted: {exc.message}")
    else:
        messages.success(request, f"Deleted {repository}:{tag} ({digest}).")
    return redirect("registry-tags", pk=registry.pk, repository=repository)


def _form_errors_to(form: Any, exc: Refusal) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _job_form(
    request: HttpRequest,
    form: Any,
    template: str,
    start: Callable[[dict[str, Any]], Job],
    **context: Any,
) -> HttpResponse:
    """A pull, push or build form: once valid, `start` the job and show its page; a refusal
    is shown on the form (403 when refused, 200 for bad input)."""
    code = 200
    if request.method == "POST" and form.is_valid():
        try:
            job = start(form.cleaned_data)
        except (refs.InputError, PolicyViolation) as exc:
            _form_errors_to(form, exc)
            code = _status_of(exc)
        else:
            return redirect("job-detail", pk=job.pk)
    return render(request, template, {"form": form, **context}, status=code)


@require_http_methods(["GET", "POST"])
def pull(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.CREATE)
    form = PullForm(
        request.POST or None,
        initial={"image": request.GET.get("image", ""), "registry": request.GET.get("registry")},
        user=request.user,
    )

    def start(data: dict[str, Any]) -> Job:
        registry = data.get("registry")
        return services.pull(request, data["image"], registry.pk if registry else None)

    return _job_form(request, form, "registry_app/pull.html", start)


@require_http_methods(["GET", "POST"])
def push(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.CREATE)
    form = PushForm(
        request.POST or None, initial={"image": request.GET.get("image", "")}, user=request.user
    )

    def start(data: dict[str, Any]) -> Job:
        return services.push(
            request, data["image"], data["registry"].pk, data["repository"], data["tag"]
        )

    # The template calls it: the engine is asked only when the form is shown.
    return _job_form(request, form, "registry_app/push.html", start, local_images=local_image_names)


@require_http_methods(["GET", "POST"])
def build(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.CREATE)
    form = BuildForm(request.POST or None, request.FILES or None)

    def start(data: dict[str, Any]) -> Job:
        return services.build(
            request,
            tag=data["tag"],
            context=data["context_tar"],
            build_args=data["build_args"],
            dockerfile=data["dockerfile"] or "Dockerfile",
        )

    return _job_form(request, form, "registry_app/build.html", start)


@require_http_methods(["GET", "POST"])
def my_credentials(request: HttpRequest, pk: int) -> HttpResponse:
    """Your own login for one registry: store (encrypted) or remove it."""
    registry = _registry_for_user(request.user, pk)
    access.require_global(request.user, Perm.CREATE)
    mine = registry.credentials.filter(owner=request.user).first()
    form = CredentialForm(request.POST or None, initial={"username": mine.username if mine else ""})
    code = 200
    target = {"target_kind": "registry", "target_id": str(pk), "target_name": registry.name}
    if request.method == "POST" and request.POST.get("remove"):
        with audited(request, "registry.credential.delete", **target):
            registry.credentials.filter(owner=request.user).delete()
        messages.success(request, f"Your login for {registry.name} was removed.")
        return redirect("registry-credentials", pk=pk)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        params = {"username": data["username"], "scope": data["scope"]}
        try:
            with audited(request, "registry.credential.set", params=params, **target):
                services.store_credential(
                    request.user, registry, data["username"], data["password"], data["scope"]
                )
        except refs.InputError as exc:
            _form_errors_to(form, exc)
            code = _status_of(exc)
        else:
            messages.success(request, f"Your login for {registry.name} is stored.")
            return redirect("registry-credentials", pk=pk)
    return render(
        request,
        "registry_app/credentials.html",
        {"registry": registry, "form": form, "mine": mine},
        status=code,
    )


@require_GET
def hub_search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    results: list[dict[str, Any]] = []
    error = ""
    if form.is_valid():
        try:
            results = services.search_hub(form.cleaned_data["q"])
        except refs.InputError as exc:
            error = exc.message
    context = {"form": form, "results": results, "error": error, "searched": form.is_bound}
    template = (
        "registry_app/_search_results.html" if _is_htmx(request) else "registry_app/search.html"
    )
    return render(request, template, context)


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    return render(request, "registry_app/job_list.html", {"jobs": _visible_jobs(request.user, 200)})


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request.user, pk)
    return render(
        request, "registry_app/job_detail.html", {"job": job, "frame": jobs.current_frame(job)}
    )
