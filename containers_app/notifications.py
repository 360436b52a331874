"""Alert notifications: a webhook POST or an email per new alert, off the sampler's path.

Who hears of an alert: the addresses (AlertTarget) of its class, and those of every user
who may see it (a student their own, an instructor their students', admins all). Each
address hears of one alert once (AlertDelivery is unique per alert and address; a
reopened alert is not new), at most ALERT_NOTIFY_PER_HOUR times an hour (the rest are
marked skipped), and each delivery is tried ALERT_NOTIFY_TRIES times, waiting
ALERT_RETRY_SECONDS, then twice as long, between tries. What happened is stored on the
delivery and shown with the alert. Sending runs on a small pool of threads of its own.

A webhook gets one JSON body that Slack's incoming webhooks (`text`) and generic
receivers (`alert`) read; an address written `ntfy://host/topic` (or `ntfy+http://`)
is sent to that ntfy server in its JSON publishing form (`topic`, `title`, `message`,
`tags`, `priority`). The answer's body is never read back: only its status is kept.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from containers_app.models import Alert, AlertDelivery, AlertTarget
from dashboard import access, audit
from dashboard.alert_rules import TITLES, Kind
from dashboard.models import Course, Role, User
from dashboard.refusals import Forbidden, Invalid

log = logging.getLogger(__name__)

NTFY_SCHEMES = {"ntfy": "https", "ntfy+https": "https", "ntfy+http": "http"}
WEBHOOK_SCHEMES = {"http", "https", *NTFY_SCHEMES}
ADDRESS_LENGTH = AlertTarget._meta.get_field("address").max_length or 500


def shown_address(channel: str, address: str) -> str:
    """An address as pages and the audit log show it: a webhook's URL cut to its host (the
    URL is often the secret itself)."""
    if channel == AlertTarget.Channel.EMAIL:
        return address
    try:
        parts = urlsplit(address)
    except ValueError:  # no URL: nothing of it is shown
        return "…"
    return f"{parts.scheme}://{parts.hostname}/…" if parts.path.strip("/") else address


def check_address(channel: str, address: str, *, trusted: bool = False) -> str:
    """The words saying what is wrong with `address` for `channel`, "" when it will do; a
    webhook at a private or local address only when `trusted` (an admin's) or allowed."""
    if len(address) > ADDRESS_LENGTH:
        return f"An address has at most {ADDRESS_LENGTH} characters."
    if channel == AlertTarget.Channel.EMAIL:
        try:
            validate_email(address)  # one address: the mailer would take a list apart
        except ValidationError:
            return f"{address!r} is not an email address."
        return ""
    if channel != AlertTarget.Channel.WEBHOOK:
        return f"channel must be webhook or email, not {channel!r}."
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - a port that is no number raises
        (parts.hostname or "").encode("idna")
    except (ValueError, UnicodeError):
        return f"{address!r} is not a URL: its host or its port is none."
    if any(c.isspace() for c in address):
        return "A webhook's URL holds no spaces."
    if parts.scheme not in WEBHOOK_SCHEMES or not parts.hostname:
        return "A webhook is an http:// or https:// URL (or ntfy://host/topic)."
    if parts.scheme in NTFY_SCHEMES and not parts.path.strip("/"):
        return "An ntfy address names its topic: ntfy://ntfy.sh/your-topic."
    return "" if trusted else private_host_refusal(parts.hostname)


def private_host_refusal(host: str) -> str:
    """Why a webhook of someone not an admin may not go to `host` ("": it may): a host of
    this machine or its networks (the engine's API, a cloud's metadata service...) would take
    the dashboard's POSTs, unless DOCKDASH_ALERT_WEBHOOK_PRIVATE_HOSTS names it."""
    if host.lower() in settings.ALERT_WEBHOOK_PRIVATE_HOSTS:
        return ""
    try:
        found = {str(i[4][0]) for i in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return f"The webhook's host {host} cannot be found."
    if any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in found):
        return (
            f"The webhook's host {host} is a private or local address: only an admin may send "
            "alerts there (or allow it with DOCKDASH_ALERT_WEBHOOK_PRIVATE_HOSTS)."
        )
    return ""


def _text(alert: Alert) -> tuple[str, str]:
    """(title, message) of an alert, in words."""
    what = TITLES.get(Kind(alert.kind), alert.kind)
    subject = alert.container_name or alert.owner or "the host"
    title = f"dockdash: {what}: {subject}"
    whose = [f"owner {alert.owner}"] if alert.owner else []
    whose += [f"class {alert.course}"] if alert.course else []
    message = alert.summary + (f" ({', '.join(whose)})" if whose else "")
    if settings.PUBLIC_URL and alert.container_id:
        message += f"\n{settings.PUBLIC_URL}/containers/{alert.container_id[:12]}/"
    return title, message


def webhook_request(alert: Alert, address: str) -> tuple[str, dict[str, Any]]:
    """(URL, JSON body) of the POST that tells `address` of `alert`."""
    title, message = _text(alert)
    parts = urlsplit(address)
    if parts.scheme in NTFY_SCHEMES:
        topic = parts.path.strip("/")
        url = f"{NTFY_SCHEMES[parts.scheme]}://{parts.netloc}/"
        return url, {
            "topic": topic,
            "title": title,
            "message": message,
            "tags": ["warning", alert.kind],
            "priority": 4,
        }
    return address, {"text": f"*{title}*\n{message}", "alert": alert_fields(alert)}


def alert_fields(alert: Alert) -> dict[str, Any]:
    """An alert's fields as the API, the pages and webhooks give them."""
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "state": alert.state,
        "container": alert.container_id,
        "name": alert.container_name,
        "owner": alert.owner,
        "class": alert.course,
        "summary": alert.summary,
        "started": alert.started.timestamp(),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook's redirect is its answer: following it would send the POST to an address
    nobody checked (this host's own, say)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked: http(s) only
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "dockdash"},
        method="POST",
    )
    try:
        with _opener.open(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        moved = " (redirects are not followed)" if 300 <= exc.code < 400 else ""
        raise DeliveryFailed(f"the webhook answered HTTP {exc.code}{moved}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: a bad URL
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"the webhook could not be reached: {reason}") from exc


def _email(alert: Alert, address: str) -> None:
    if not settings.EMAIL_HOST:
        raise DeliveryFailed("email is not set up on this server (DOCKDASH_EMAIL_HOST)")
    title, message = _text(alert)
    try:
        send_mail(title, message, settings.DEFAULT_FROM_EMAIL, [address])
    except OSError as exc:  # smtplib's errors are OSErrors
        raise DeliveryFailed(f"the mail server refused or could not be reached: {exc}") from exc


class DeliveryFailed(Exception):
    pass


def recipients(alert: Alert) -> dict[tuple[str, str], bool]:
    """(channel, address) of everyone who hears of `alert`, each address once, and whether an
    admin set it up (then it may be a private address)."""
    targets = []
    course = Course.objects.filter(slug=alert.course).first() if alert.course else None
    # A class's addresses: its students' containers only (anyone may write a class label),
    # set up by someone who still runs the class.
    if course is not None and course.students.filter(username=alert.owner).exists():
        runs = Q(added_by__is_superuser=True) | Q(added_by__role=Role.ADMIN)
        runs |= Q(added_by__in=course.instructors.all())
        targets += AlertTarget.objects.filter(runs, course=course, added_by__is_active=True)
    for t in AlertTarget.objects.filter(user__isnull=False).select_related("user"):
        user: User = t.user  # type: ignore[assignment]
        if user.is_active and access.can(user, access.Perm.VIEW, alert.owner or None):
            targets.append(t)
    found: dict[tuple[str, str], bool] = {}
    for t in targets:
        key = (t.channel, t.address)
        found[key] = found.get(key, False) or t.trusted
    return found


def _over_limit(delivery: AlertDelivery) -> bool:
    """Whether its address was sent (or tried) its hourly share already."""
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    sent = AlertDelivery.objects.filter(address=delivery.address, created__gte=hour_ago)
    sent = sent.exclude(state=AlertDelivery.State.SKIPPED).exclude(pk=delivery.pk)
    return sent.count() >= settings.ALERT_NOTIFY_PER_HOUR


def deliver(
    alert: Alert, channel: str, address: str, *, trusted: bool = False
) -> AlertDelivery | None:
    """Tell `address` of `alert`, retrying; None when it was told already. A webhook not
    `trusted` is refused at a private address (looked up again now, not only when added)."""
    try:
        with transaction.atomic():  # a savepoint: the refused insert leaves the rest usable
            delivery = AlertDelivery.objects.create(alert=alert, channel=channel, address=address)
    except IntegrityError:
        return None  # told already (a second process, or a reopened alert)
    refusal = (
        ""
        if channel == AlertTarget.Channel.EMAIL
        else check_address(channel, address, trusted=trusted)
    )
    if _over_limit(delivery):
        delivery.state = AlertDelivery.State.SKIPPED
        delivery.error = f"over {settings.ALERT_NOTIFY_PER_HOUR} notifications an hour"
    elif refusal:
        delivery.state, delivery.error = AlertDelivery.State.FAILED, refusal[:300]
    else:
        wait = settings.ALERT_RETRY_SECONDS
        for attempt in range(1, settings.ALERT_NOTIFY_TRIES + 1):
            delivery.attempts = attempt
            try:
                if channel == AlertTarget.Channel.EMAIL:
                    _email(alert, address)
                else:
                    _post(*webhook_request(alert, address))
            except DeliveryFailed as exc:
                delivery.error = str(exc)[:300]
                delivery.state = AlertDelivery.State.FAILED
                log.info("alert %s to %s: try %d failed: %s", alert.pk, address, attempt, exc)
                if attempt < settings.ALERT_NOTIFY_TRIES:
                    delivery.save(update_fields=["attempts", "error", "state"])
                    time.sleep(wait)
                    wait *= 2
                continue
            delivery.state, delivery.error = AlertDelivery.State.SENT, ""
            break
    delivery.done = datetime.now(UTC)
    delivery.save()
    return delivery


class Notifier:
    """Sends each new alert to its recipients on threads of its own."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="dockdash-notify")

    def send(self, alert: Alert) -> None:
        self._pool.submit(self._send, alert.pk)

    def _send(self, alert_id: int) -> None:
        try:
            alert = Alert.objects.filter(pk=alert_id).first()
            if alert is not None:
                for (channel, address), trusted in recipients(alert).items():
                    try:
                        deliver(alert, channel, address, trusted=trusted)
                    except Exception:  # one address's failure must not silence the others
                        log.exception("notifying alert %s to %s failed", alert_id, address)
        except Exception:  # a notifier's failure must not be silent, nor end the pool
            log.exception("notifying alert %s failed", alert_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- who is told where


def may_be_notified(user: Any) -> bool:
    """Instructors and admins get notifications; a student's alerts show in their bell."""
    return access.role_of(user) in (Role.ADMIN, Role.INSTRUCTOR)


def courses_run_by(user: Any) -> Any:
    if access.role_of(user) == Role.ADMIN:
        return Course.objects.all()
    return Course.objects.filter(instructors=user) if user.pk else Course.objects.none()


def targets_of(user: Any) -> list[AlertTarget]:
    """The addresses `user` set up: their own and those of the classes they run."""
    if not may_be_notified(user):
        return []
    rows = AlertTarget.objects.filter(Q(user=user) | Q(course__in=courses_run_by(user)))
    return list(rows.select_related("course").order_by("course__slug", "channel", "address"))


def add_target(request: Any, channel: str, address: str, course: str = "") -> AlertTarget:
    """Send `request.user`'s alerts (or those of class `course`, which they run) to `address`."""
    user = request.user
    address = address.strip()
    params = {"channel": channel, "course": course}
    shown = shown_address(channel, address)
    target = {"target_kind": "alert_target", "target_name": shown, "params": params}
    with audit.audited(request, "alert_target.add", **target):
        if not may_be_notified(user):
            raise Forbidden(
                f"Your role ({access.role_of(user)}) gets no notifications: "
                "your alerts show in the bell at the top of every page."
            )
        found = courses_run_by(user).filter(slug=course).first() if course else None
        if course and found is None:
            raise access.not_found("class", course)
        trusted = access.role_of(user) == Role.ADMIN
        problem = check_address(channel, address, trusted=trusted)
        if problem:
            raise Invalid(problem, field="address")
        owner = {"course": found} if found is not None else {"user": user}
        made, _ = AlertTarget.objects.update_or_create(
            channel=channel,
            address=address,
            **owner,
            defaults={"trusted": trusted, "added_by": user},
        )
    return made


def remove_target(request: Any, target_id: int) -> None:
    with audit.audited(request, "alert_target.remove", target_kind="alert_target") as row:
        found = next((t for t in targets_of(request.user) if t.pk == target_id), None)
        if found is None:
            raise access.not_found("notification address", str(target_id))
        row["target_name"] = shown_address(found.channel, found.address)
        found.delete()
