"""Alert notifications without the engine: the webhook bodies (Slack's, ntfy's), the hourly
limit per address, one delivery per alert and address, and who may add addresses where."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from containers_app.models import Alert, AlertDelivery, AlertTarget
from containers_app.notifications import check_address, deliver, webhook_request
from dashboard.models import AuditEntry, Course
from tests import rig

pytestmark = [pytest.mark.django_db]


def alert(n: int = 1) -> Alert:
    now = datetime.now(UTC)
    return Alert.objects.create(
        kind="oom",
        container_id=f"{n:064x}",
        container_name=f"web{n}",
        owner="ann",
        course="os101",
        summary="The kernel's OOM killer ended a process.",
        started=now,
        changed=now,
    )


def test_a_webhook_gets_slacks_text_and_ntfy_its_json_form() -> None:
    a = alert()
    url, body = webhook_request(a, "https://hooks.slack.com/services/T/B/X")
    assert url == "https://hooks.slack.com/services/T/B/X"
    assert body["text"].startswith("*dockdash: Out of memory: web1*")
    assert body["alert"]["owner"] == "ann" and body["alert"]["class"] == "os101"
    url, body = webhook_request(a, "ntfy+http://127.0.0.1:8080/class-os101")
    assert url == "http://127.0.0.1:8080/"
    assert body["topic"] == "class-os101" and body["title"] == "dockdash: Out of memory: web1"
    assert "owner ann, class os101" in body["message"]
    assert webhook_request(a, "ntfy://ntfy.sh/t")[0] == "https://ntfy.sh/"


@pytest.mark.parametrize(
    ("channel", "address", "words"),
    [
        ("webhook", "ftp://example.org/x", "http:// or https://"),
        ("webhook", "file:///etc/passwd", "http:// or https://"),
        ("webhook", "ntfy://ntfy.sh/", "names its topic"),
        ("email", "not-an-address", "not an email address"),
        ("sms", "123", "webhook or email"),
    ],
)
def test_bad_addresses_are_refused_in_words(channel: str, address: str, words: str) -> None:
    assert words in check_address(channel, address)


def test_each_address_hears_of_an_alert_once_and_at_most_its_hourly_share(settings: Any) -> None:
    settings.ALERT_NOTIFY_PER_HOUR, settings.ALERT_NOTIFY_TRIES = 2, 1
    settings.ALERT_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    closed = f"http://127.0.0.1:{rig.free_port()}/hook"  # nothing listens: refused at once
    first, second, third = alert(1), alert(2), alert(3)
    assert deliver(first, "webhook", closed).state == AlertDelivery.State.FAILED  # type: ignore[union-attr]
    assert deliver(first, "webhook", closed) is None  # told already
    assert deliver(second, "webhook", closed).state == AlertDelivery.State.FAILED  # type: ignore[union-attr]
    skipped = deliver(third, "webhook", closed)
    assert skipped is not None and skipped.state == AlertDelivery.State.SKIPPED
    assert skipped.error == "over 2 notifications an hour" and skipped.attempts == 0
    failed = AlertDelivery.objects.get(alert=first)
    assert failed.error.startswith("the webhook could not be reached")


@pytest.mark.parametrize(
    "address",
    [
        "http://127.0.0.1:2375/containers/web1/kill",  # an engine's API on loopback
        "http://localhost:8000/",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "ntfy+http://192.168.1.5/topic",
    ],
)
def test_only_an_admin_sends_webhooks_to_private_addresses(address: str, settings: Any) -> None:
    refusal = check_address("webhook", address)
    assert "is a private or local address: only an admin" in refusal, refusal
    assert check_address("webhook", address, trusted=True) == ""
    settings.ALERT_WEBHOOK_PRIVATE_HOSTS = [urlsplit(address).hostname]
    assert check_address("webhook", address) == ""


def test_a_private_webhook_is_refused_when_sent_too(settings: Any) -> None:
    settings.ALERT_NOTIFY_TRIES = 1
    done = deliver(alert(), "webhook", "http://127.0.0.1:2375/containers/web1/kill")
    assert done is not None and done.state == AlertDelivery.State.FAILED and done.attempts == 0
    assert "private or local address" in done.error


def test_addresses_only_for_oneself_and_the_classes_one_teaches(
    make_user: Callable[..., Any],
) -> None:
    teacher, other = make_user("tea", "instructor"), make_user("tea2", "instructor")
    student = make_user("stu", "student")
    mine, theirs = (
        Course.objects.create(name="A", slug="a"),
        Course.objects.create(name="B", slug="b"),
    )
    mine.instructors.add(teacher)
    theirs.instructors.add(other)
    page = Client()
    page.force_login(student)
    form = {"channel": "email", "address": "me@school.test"}
    answer = page.post("/alerts/targets/", form, follow=True)
    assert "gets no notifications" in answer.content.decode()
    page.force_login(teacher)
    answer = page.post("/alerts/targets/", {**form, "course": "b"}, follow=True)
    assert "No such class: b" in answer.content.decode()
    answer = page.post("/alerts/targets/", {**form, "address": "nope"}, follow=True)
    assert "not an email address" in answer.content.decode()
    page.post("/alerts/targets/", {**form, "course": "a"})
    assert list(AlertTarget.objects.values_list("course__slug", "address")) == [
        ("a", "me@school.test")
    ]
    rows = AuditEntry.objects.filter(action="alert_target.add").order_by("id")
    assert [r.result for r in rows] == ["error", "error", "error", "ok"]
    target = AlertTarget.objects.get()
    page.force_login(other)  # not their class's address: not there
    page.post(f"/alerts/targets/{target.pk}/remove/")
    assert AlertTarget.objects.count() == 1
    page.force_login(teacher)
    page.post(f"/alerts/targets/{target.pk}/remove/")
    assert AlertTarget.objects.count() == 0
