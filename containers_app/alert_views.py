"""Alerts for people: the alerts page, acknowledging, notification addresses, the JSON API.

A student sees their own alerts, an instructor theirs and their students', admins and
viewers all (containers_app.alerts.visible_to); instructors and admins acknowledge. The
addresses alerts are sent to are shown only to those who may acknowledge, a webhook's
URL cut to its host (it is often the secret itself).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from containers_app import alerts, notifications
from containers_app.models import Alert, AlertDelivery
from dashboard.endpoints import Endpoint, Op
from dashboard.refusals import Invalid, Refusal

STATES = {
    "open": alerts.OPEN,
    "firing": (Alert.State.FIRING,),
    "acknowledged": (Alert.State.ACKNOWLEDGED,),
    "resolved": (Alert.State.RESOLVED,),
    "all": tuple(Alert.State.values),
}
PAGE_ROWS = 200


def alert_row(user: Any, alert: Alert, deliveries: list[AlertDelivery] | None) -> dict[str, Any]:
    """An alert as the API and the pages give it."""
    row: dict[str, Any] = {
        **notifications.alert_fields(alert),
        "title": alerts.title(alert.kind),
        "changed": alert.changed.timestamp(),
        "resolved": alert.resolved.timestamp() if alert.resolved else None,
        "acknowledged_by": alert.acknowledged_by,
        "fired": alert.fired,
        "may_acknowledge": alert.state == Alert.State.FIRING
        and alerts.may_acknowledge(user, alert),
    }
    if deliveries is not None and alerts.may_acknowledge(user, alert):
        row["notifications"] = [
            {
                "channel": d.channel,
                "address": notifications.shown_address(d.channel, d.address),
                "state": d.state,
                "attempts": d.attempts,
                "error": d.error,
            }
            for d in deliveries
        ]
    return row


def container_alerts(user: Any, container_id: str) -> list[dict[str, Any]]:
    """The alerts of one container for its page: open ones, then the last resolved."""
    return [alert_row(user, a, None) for a in alerts.for_container(user, container_id)]


def _alerts_for(user: Any, query: Any) -> list[dict[str, Any]]:
    """The alerts `user` may see that the query asks for (state, container, class), newest
    first; Invalid for a state that is none."""
    state = query.get("state", "open")
    if state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}, not {state!r}", field="state")
    found = alerts.visible_to(user).filter(state__in=STATES[state])
    if query.get("container"):
        found = found.filter(container_id__startswith=query["container"])
    if query.get("class"):
        found = found.filter(course=query["class"])
    rows = list(found.order_by("-changed")[:PAGE_ROWS])
    deliveries: dict[int, list[AlertDelivery]] = {}
    for d in AlertDelivery.objects.filter(alert__in=rows).order_by("pk"):
        deliveries.setdefault(d.alert_id, []).append(d)
    return [alert_row(user, a, deliveries.get(a.pk, [])) for a in rows]


# ---------------------------------------------------------------- pages


@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    try:
        rows = _alerts_for(request.user, request.GET)
        state = request.GET.get("state", "open")
    except Invalid as exc:
        messages.error(request, exc.message)
        rows, state = _alerts_for(request.user, {}), "open"
    kept = {k: request.GET[k] for k in ("class", "container") if request.GET.get(k)}
    context = {
        "alerts": rows,
        "state": state,
        "kept": urlencode(kept),  # the filters the state tabs keep
        "filtered": kept,
        "states": list(STATES),
        "notified": notifications.may_be_notified(request.user),
        "targets": [
            {
                "id": t.pk,
                "channel": t.channel,
                "address": notifications.shown_address(t.channel, t.address),
                "course": t.course.slug if t.course else "",
            }
            for t in notifications.targets_of(request.user)
        ],
        "courses": list(notifications.courses_run_by(request.user).values_list("slug", flat=True))
        if notifications.may_be_notified(request.user)
        else [],
    }
    if request.GET.get("partial") == "rows":
        return render(request, "containers_app/_alert_rows.html", context)
    return render(request, "containers_app/alert_list.html", context)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect(reverse("alerts"))


@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        alert = alerts.acknowledge(request, pk)
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        name = alert.container_name or alert.owner
        messages.success(request, f"Acknowledged: {alerts.title(alert.kind)} of {name}.")
    return _back(request)


@require_POST
def alert_target_add(request: HttpRequest) -> HttpResponse:
    channel = request.POST.get("channel", "")
    address = request.POST.get("address", "")
    try:
        notifications.add_target(request, channel, address, request.POST.get("course", ""))
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Alerts will be sent to {notifications.shown_address(channel, address)}."
        )
    return _back(request)


@require_POST
def alert_target_remove(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        notifications.remove_target(request, pk)
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "That address gets no more alerts.")
    return _back(request)


# ---------------------------------------------------------------- the JSON API


def _api_acknowledge(request: Request, pk: int) -> dict[str, Any]:
    return alert_row(request.user, alerts.acknowledge(request, pk), None)


ENDPOINTS = [
    Endpoint(
        "api/v1/alerts/",
        "api-alerts",
        get=Op(
            "Alerts you may see, newest first",
            lambda request: _alerts_for(request.user, request.query_params),
            parameters=[
                OpenApiParameter(
                    "state", str, enum=list(STATES), description="open (default): not resolved"
                ),
                OpenApiParameter("container", str, description="a container's id (or its start)"),
                OpenApiParameter("class", str, description="a class's slug"),
            ],
            operation_id="alerts_list",
        ),
    ),
    Endpoint(
        "api/v1/alerts/<int:pk>/ack/",
        "api-alert-ack",
        post=Op("Acknowledge an alert (instructors, admins)", _api_acknowledge),
    ),
]
