"""Pages for containers, images, networks and volumes: parse, ask the policy, call a service."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from containers_app import alert_views, containers, gate, images, networks, translate, volumes
from containers_app.engine.errors import EngineError, EngineUnavailable
from containers_app.engine.system import DISK_USAGE_NOTE, host_cpus, system_df
from containers_app.forms import (
    ConnectForm,
    ContainerCreateForm,
    NetworkCreateForm,
    RenameForm,
    TagForm,
    VolumeCreateForm,
)
from containers_app.lookup import container_for_user, container_page_context
from containers_app.validation import docker_run_command
from dashboard import access, quotas
from dashboard.access import Perm
from dashboard.records import ContainerRecord
from dashboard.refusals import Forbidden, NotVisible, Refusal

ACTION_LABELS = {
    "start": "Start",
    "stop": "Stop",
    "restart": "Restart",
    "pause": "Pause",
    "unpause": "Unpause",
    "kill": "Kill",
    "remove": "Remove",
}
# Which actions make sense in which state (the others are hidden, not refused).
ACTIONS_BY_STATE = {
    "running": ("stop", "restart", "pause", "kill"),
    "paused": ("unpause", "kill"),
    "restarting": ("stop", "kill"),
    "created": ("start",),
    "exited": ("start", "restart"),
    "dead": (),
}


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect(fallback)


def _link_host(request: HttpRequest) -> str:
    host = urlsplit("//" + request.get_host()).hostname or "127.0.0.1"
    return f"[{host}]" if ":" in host else host


OK, GONE, REFUSED = "ok", "gone", "refused"


def _attempt(request: HttpRequest, work: Callable[[], str]) -> str:
    """Run a mutation; its success or the refusal, in words, becomes a message."""
    try:
        messages.success(request, work())
    except EngineUnavailable:
        raise
    except NotVisible as exc:
        messages.error(request, f"{exc.message} (it may have been removed meanwhile).")
        return GONE
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        return OK
    return REFUSED


def _removed(request: HttpRequest, work: Callable[[], str], listing: str) -> HttpResponse:
    """After a remove: the list when it is gone, else back where the user came from."""
    if _attempt(request, work) in (OK, GONE):
        return redirect(listing)
    return _back(request, reverse(listing))


def _with_powers(request: HttpRequest, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows, each saying whether this user may remove it, and whether they may prune:
    the page shows only the buttons the user may use (the gate refuses the others anyway)."""
    user = request.user
    return {
        "rows": [
            {**row, "can_remove": access.can(user, Perm.REMOVE, row["owner"])} for row in rows
        ],
        "can_prune": access.can(user, Perm.PRUNE),
    }


def _list_page(request: HttpRequest, kind: str, context: dict[str, Any]) -> HttpResponse:
    """A list page, or only its rows when the page refreshes them (`?partial=rows`)."""
    if request.GET.get("partial") == "rows":
        return render(request, f"containers_app/_{kind}_rows.html", context)
    return render(request, f"containers_app/{kind}_list.html", context)


def _list_with_create_form(
    request: HttpRequest,
    kind: str,
    form: Any,
    create: Callable[[], str],
    context: Callable[[], dict[str, Any]],
) -> HttpResponse:
    """A list page whose form creates one; after a create that went through, the list afresh."""
    if request.method == "POST" and form.is_valid() and _attempt(request, create) == OK:
        return redirect(f"{kind}s")
    return _list_page(request, kind, {**context(), "form": form})


def _form_errors(form: Any) -> str:
    return "; ".join(
        f"{field}: {' '.join(errs)}" if field != "__all__" else " ".join(errs)
        for field, errs in form.errors.items()
    )


# ---------------------------------------------------------------- containers


@require_GET
def container_list(request: HttpRequest) -> HttpResponse:
    show_all = request.GET.get("all", "1") != "0"
    filters = {
        "text": request.GET.get("q", ""),
        "state": request.GET.get("state", ""),
        "label": request.GET.get("label", ""),
        "sort": request.GET.get("sort", "name"),
    }
    rows = containers.with_restart_counts(
        containers.list_containers(request.user, all=show_all, **filters)
    )
    mine = request.user.get_username()  # what a role may do to its own: students act on theirs
    context = {
        "rows": rows,
        "show_all": show_all,
        "filters": filters,
        "states": containers.CONTAINER_STATES,
        "bulk_actions": [
            (a, ACTION_LABELS[a])
            for a in containers.BULK_ACTIONS
            if access.can(request.user, Perm.REMOVE if a == "remove" else Perm.CONTROL, mine)
        ],
        "link_host": _link_host(request),
        "can_create": access.can(request.user, Perm.CREATE),
    }
    return _list_page(request, "container", context)


@require_POST
def container_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    refs = request.POST.getlist("ids")
    if action not in containers.BULK_ACTIONS:
        messages.error(request, "Pick an action for the selected containers.")
    elif not refs:
        messages.error(request, "Select at least one container first.")
    else:
        for r in containers.bulk_action(request, refs, action):
            if r["ok"]:
                messages.success(request, f"{r['name']}: {action} done ({r['command']})")
            else:
                messages.error(request, f"{r['name']}: {action} failed: {r['error']}")
    return _back(request, reverse("containers"))


def _action_buttons(record: ContainerRecord) -> list[dict[str, str]]:
    return [
        {
            "action": a,
            "label": ACTION_LABELS[a],
            "command": containers.docker_command(a, record.name),
        }
        for a in ACTIONS_BY_STATE.get(record.state, ())
    ]


@require_GET
def container_detail(request: HttpRequest, ref: str) -> HttpResponse:
    attrs = container_for_user(request.user, ref)
    record = translate.container_record(attrs)
    owner, name = record.owner, record.name
    context = {
        **container_page_context(attrs, "overview"),
        "d": translate.container_detail(attrs),
        "inspect_json": json.dumps(attrs, indent=2, sort_keys=True),
        "actions": _action_buttons(record),
        "can_control": access.can(request.user, Perm.CONTROL, owner),
        "can_remove": access.can(request.user, Perm.REMOVE, owner),
        "rename_form": RenameForm(initial={"name": name}),
        "remove_command": containers.docker_command("remove", name, force=True, volumes=True),
        "container_alerts": alert_views.container_alerts(request.user, record.id),
    }
    if request.GET.get("partial") == "overview":
        return render(request, "containers_app/_container_overview.html", context)
    return render(request, "containers_app/container_detail.html", context)


@require_POST
def container_action(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    def act() -> str:
        done = containers.container_action(request, ref, action)
        return f"{ACTION_LABELS.get(action, action)}: {done['name']} ({done['command']})"

    if action not in containers.ACTIONS:
        raise access.not_found("action", action)
    if _attempt(request, act) == GONE:
        return redirect("containers")
    return _back(request, reverse("container-detail", args=[ref]))


@require_POST
def container_rename(request: HttpRequest, ref: str) -> HttpResponse:
    form = RenameForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(request, reverse("container-detail", args=[ref]))

    def rename() -> str:
        done = containers.rename_container(request, ref, form.parsed)
        return f"Renamed to {done['name']} ({done['command']})"

    outcome = _attempt(request, rename)
    if outcome == OK:
        return redirect("container-detail", form.parsed)
    if outcome == GONE:
        return redirect("containers")
    return _back(request, reverse("container-detail", args=[ref]))


@require_POST
def container_remove(request: HttpRequest, ref: str) -> HttpResponse:
    force = request.POST.get("force") == "on"
    volumes = request.POST.get("volumes") == "on"

    def remove() -> str:
        done = containers.remove_container(request, ref, force=force, volumes=volumes)
        return f"Removed {done['name']} ({done['command']})"

    if _attempt(request, remove) in (OK, GONE):
        return redirect("containers")
    return _back(request, reverse("container-detail", args=[ref]))


def _create_choices(user: Any) -> dict[str, Any]:
    # Only what the user may see: other students' network names are not theirs to read.
    tags = sorted({t for img in images.list_images(user) for t in img["tags"]})
    names = sorted(n["name"] for n in networks.list_networks(user))
    return {"image_choices": tags, "network_choices": names}


def _policy_field(form: ContainerCreateForm, exc: Refusal) -> str | None:
    """The form field a shared-host policy refusal is about (it says `mounts` for volumes)."""
    field = "volumes" if exc.field == "mounts" else exc.field
    return field if field in form.fields else None


def _run_form(request: HttpRequest, data: Any) -> ContainerCreateForm:
    """The run form, saying this user's default limits where a field is left empty."""
    limits = quotas.limits_for(request.user)
    return ContainerCreateForm(data, host_cpus=host_cpus(), limits=limits)


@require_http_methods(["GET", "POST"])
def container_create(request: HttpRequest) -> HttpResponse:
    form = _run_form(request, request.POST or None)
    if request.method == "GET" or not form.is_valid():
        access.require_global(request.user, Perm.CREATE)  # a create is refused in the gate
    code = 200
    command = ""
    missing_image = ""  # not on this host: the page offers to pull it
    if request.method == "POST" and form.is_valid():
        try:
            container_id = containers.create_container(request, form.parsed)
        except EngineUnavailable:
            raise
        except EngineError as exc:
            form.add_error(containers.engine_error_field(exc), exc.message)
            if "no such image" in exc.message.lower():
                missing_image = form.parsed.image
        except Refusal as exc:
            form.add_error(_policy_field(form, exc), exc.message)
            code = exc.status if isinstance(exc, Forbidden) else 200
        else:
            command = docker_run_command(gate.owned_spec(request.user, form.parsed))
            name = form.parsed.name or container_id[:12]
            messages.success(request, f"Created {name}: {command}")
            return redirect("container-detail", container_id)
        with contextlib.suppress(Refusal):
            command = docker_run_command(gate.owned_spec(request.user, form.parsed))
    context = {
        "form": form,
        "command": command,
        "missing_image": missing_image,
        **_create_choices(request.user),
    }
    return render(request, "containers_app/container_create.html", context, status=code)


@require_POST
def container_create_preview(request: HttpRequest) -> JsonResponse:
    """The `docker run` line for the form as typed so far, or what is wrong with it."""
    access.require_global(request.user, Perm.CREATE)
    form = _run_form(request, request.POST)
    if not form.is_valid():
        errors = {field: " ".join(errs) for field, errs in form.errors.items()}
        return JsonResponse({"command": "", "errors": errors})
    try:
        change = gate.check(request.user, "container.create", spec=form.parsed)
    except Refusal as exc:
        field = _policy_field(form, exc) or "__all__"
        return JsonResponse({"command": "", "errors": {field: exc.message}})
    return JsonResponse({"command": docker_run_command(change.target.record), "errors": {}})


# ---------------------------------------------------------------- images


@require_GET
def image_list(request: HttpRequest) -> HttpResponse:
    dangling = request.GET.get("dangling") == "1"
    context = {
        **_with_powers(request, images.list_images(request.user, dangling_only=dangling)),
        "dangling": dangling,
        "can_tag": access.can(request.user, Perm.CREATE),  # a tag makes a name: a create
    }
    return _list_page(request, "image", context)


@require_GET
def image_detail(request: HttpRequest, ref: str) -> HttpResponse:
    detail = images.image_detail(request.user, ref)
    context = {
        **detail,
        "ref": ref,
        "inspect_json": json.dumps(detail["attrs"], indent=2, sort_keys=True),
        "can_tag": access.can(request.user, Perm.CREATE),
        "can_remove": access.can(request.user, Perm.REMOVE, detail["owner"]),
    }
    return render(request, "containers_app/image_detail.html", context)


@require_POST
def image_remove(request: HttpRequest, ref: str) -> HttpResponse:
    force = request.POST.get("force") == "on"

    def remove() -> str:
        done = images.remove_image(request, ref, force=force)
        what = ", ".join(f"{k.lower()} {v[:19]}" for d in done for k, v in d.items())
        return f"Removed {ref}: {what} (docker rmi {'-f ' if force else ''}{ref})"

    return _removed(request, remove, "images")


@require_POST
def image_tag(request: HttpRequest, ref: str) -> HttpResponse:
    form = TagForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
    else:
        _attempt(
            request,
            lambda: (
                f"Tagged {ref} as "
                + images.tag_image(request, ref, form.parsed["repository"], form.parsed["tag"])
                + f" (docker tag {ref} {form.parsed['repository']}:{form.parsed['tag']})"
            ),
        )
    return _back(request, reverse("images"))


@require_POST
def image_prune(request: HttpRequest) -> HttpResponse:
    def prune() -> str:
        done = images.prune_images(request)
        return (
            f"Pruned {len(done['deleted'])} dangling image layers, freed "
            f"{done['reclaimed']:,} bytes (docker image prune)"
        )

    _attempt(request, prune)
    return redirect("images")


# ---------------------------------------------------------------- networks


@require_http_methods(["GET", "POST"])
def network_list(request: HttpRequest) -> HttpResponse:
    form = NetworkCreateForm(request.POST or None)

    def create() -> str:
        networks.create_network(request, **form.parsed)
        name = form.parsed["name"]
        return f"Created network {name} (docker network create {name})"

    def context() -> dict[str, Any]:
        return _with_powers(request, networks.list_networks(request.user))

    return _list_with_create_form(request, "network", form, create, context)


@require_GET
def network_detail(request: HttpRequest, ref: str) -> HttpResponse:
    attrs = networks.network_detail(request.user, ref)
    context = {
        "network": attrs,
        "attached": sorted(
            (c.get("Name", ""), c.get("IPv4Address", ""))
            for c in (attrs.get("Containers") or {}).values()
        ),
        "inspect_json": json.dumps(attrs, indent=2, sort_keys=True),
        "connect_form": ConnectForm(),
        "container_choices": [r["name"] for r in containers.list_containers(request.user)],
        "predefined": attrs.get("Name") in translate.PREDEFINED_NETWORKS,
        "can_remove": access.can(request.user, Perm.REMOVE, translate.network_record(attrs).owner),
    }
    return render(request, "containers_app/network_detail.html", context)


@require_POST
def network_remove(request: HttpRequest, ref: str) -> HttpResponse:
    def remove() -> str:
        name = networks.remove_network(request, ref)
        return f"Removed network {name} (docker network rm {name})"

    return _removed(request, remove, "networks")


def _connect(request: HttpRequest, ref: str, *, disconnect: bool) -> HttpResponse:
    form = ConnectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
    else:

        def connect() -> str:
            done = networks.connect_network(
                request,
                ref,
                form.parsed["container"],
                aliases=form.parsed["aliases"],
                disconnect=disconnect,
            )
            return f"Done: {done['command']}"

        _attempt(request, connect)
    return _back(request, reverse("network-detail", args=[ref]))


@require_POST
def network_connect(request: HttpRequest, ref: str) -> HttpResponse:
    return _connect(request, ref, disconnect=False)


@require_POST
def network_disconnect(request: HttpRequest, ref: str) -> HttpResponse:
    return _connect(request, ref, disconnect=True)


@require_POST
def network_prune(request: HttpRequest) -> HttpResponse:
    def prune() -> str:
        done = networks.prune_networks(request)
        names = ", ".join(done) or "none"
        return f"Pruned {len(done)} unused networks: {names} (docker network prune)"

    _attempt(request, prune)
    return redirect("networks")


# ---------------------------------------------------------------- volumes


@require_http_methods(["GET", "POST"])
def volume_list(request: HttpRequest) -> HttpResponse:
    form = VolumeCreateForm(request.POST or None)

    def create() -> str:
        name = volumes.create_volume(request, **form.parsed)
        return f"Created volume {name} (docker volume create {name})"

    def context() -> dict[str, Any]:
        rows = volumes.list_volumes(request.user)
        # The sizes came from the shared df just read (kept a few seconds): asking again is free.
        sizes_note = DISK_USAGE_NOTE if system_df() is None else ""
        return {**_with_powers(request, rows), "sizes_note": sizes_note}

    return _list_with_create_form(request, "volume", form, create, context)


@require_GET
def volume_detail(request: HttpRequest, name: str) -> HttpResponse:
    detail = volumes.volume_detail(request.user, name)
    context = {
        **detail,
        "inspect_json": json.dumps(detail["attrs"], indent=2, sort_keys=True),
        "can_remove": access.can(
            request.user, Perm.REMOVE, translate.volume_record(detail["attrs"]).owner
        ),
    }
    return render(request, "containers_app/volume_detail.html", context)


@require_POST
def volume_remove(request: HttpRequest, name: str) -> HttpResponse:
    def remove() -> str:
        volumes.remove_volume(request, name)
        return f"Removed volume {name} (docker volume rm {name})"

    return _removed(request, remove, "volumes")


@require_POST
def volume_prune(request: HttpRequest) -> HttpResponse:
    def prune() -> str:
        done = volumes.prune_volumes(request)
        return (
            f"Pruned {len(done['deleted'])} unused volumes, freed {done['reclaimed']:,} bytes "
            "(docker volume prune)"
        )

    _attempt(request, prune)
    return redirect("volumes")
