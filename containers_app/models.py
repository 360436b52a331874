"""Stored stats history: downsampled points of each container, kept until retention.

A container's row keeps its name and owner label, so its history outlives it (and
its access rule with it). Points are compact: integers only (SQLite stores small
integers in one or two bytes), CPU in hundredths of a percent of one core, rates in
bytes/s, one row per container, step and bucket start.
"""

from __future__ import annotations

from django.db import models


class StatsContainer(models.Model):
    container_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    # Its dockdash.owner label; "": none (an admin's container).
    owner = models.CharField(max_length=150, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.name} ({self.container_id[:12]})"


class StatsPoint(models.Model):
    container = models.ForeignKey(
        StatsContainer, on_delete=models.CASCADE, related_name="points", db_index=False
    )
    step = models.PositiveSmallIntegerField()  # seconds the point covers
    t = models.IntegerField()  # epoch seconds at the start of its bucket
    cpu = models.IntegerField()  # hundredths of a percent of one core (mean)
    mem_usage = models.BigIntegerField()  # bytes (mean)
    mem_limit = models.BigIntegerField()
    net_rx = models.BigIntegerField()  # bytes/s (mean)
    net_tx = models.BigIntegerField()
    blk_read = models.BigIntegerField()
    blk_write = models.BigIntegerField()
    pids = models.IntegerField()

    class Meta:
        # Its index answers reads (one container, one step, a time range) and pruning;
        # a point written twice (a writer taking over mid-bucket) is ignored.
        constraints = [
            models.UniqueConstraint(fields=["container", "step", "t"], name="stats_point_once")
        ]

    def __str__(self) -> str:
        return f"{self.container_id}@{self.t}/{self.step}s"


class Alert(models.Model):
    """Something wrong with a container (or with a user's quota): firing until its
    condition ends (resolved), acknowledged meanwhile by an instructor or an admin."""

    class State(models.TextChoices):
        FIRING = "firing"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    kind = models.CharField(max_length=16)  # dashboard.alert_rules.Kind
    state = models.CharField(max_length=16, choices=State.choices, default=State.FIRING)
    # The container's full id and name; both "" for a user's quota alert.
    container_id = models.CharField(max_length=64, blank=True, db_index=True)
    container_name = models.CharField(max_length=255, blank=True)
    owner = models.CharField(max_length=150, blank=True, db_index=True)  # "": an admin's
    course = models.CharField(max_length=50, blank=True, db_index=True)  # its class's slug
    summary = models.TextField()
    started = models.DateTimeField()
    changed = models.DateTimeField()  # fired again, acknowledged or resolved
    resolved = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    fired = models.PositiveIntegerField(default=1)  # times its condition began (reopened)

    class Meta:
        indexes = [models.Index(fields=["state", "owner"], name="alert_state_owner")]

    def __str__(self) -> str:
        return f"{self.kind} {self.container_name or self.owner} ({self.state})"

    @property
    def open(self) -> bool:
        return self.state != self.State.RESOLVED


class AlertTarget(models.Model):
    """Where a user's or a class's alerts are sent: a webhook or an email address."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    user = models.ForeignKey(
        "dashboard.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    course = models.ForeignKey(
        "dashboard.Course", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    address = models.CharField(max_length=500)  # the webhook's URL or the email address
    # Who set it up; a class's address is heard while they still run the class.
    added_by = models.ForeignKey(
        "dashboard.User", null=True, on_delete=models.CASCADE, related_name="+"
    )
    # Set up by an admin: a webhook may then be at a private address.
    trusted = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=True, course__isnull=False)
                | models.Q(user__isnull=False, course__isnull=True),
                name="alert_target_user_or_class",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.address}"


class AlertDelivery(models.Model):
    """One alert's notification to one address: tried a bounded number of times."""

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"  # over the address's rate limit

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8)
    address = models.CharField(max_length=500)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    done = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel", "address"], name="delivery_once")
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} -> {self.address} ({self.state})"


class Engine(models.Model):
    """A Docker engine an admin added (containers_app.engines): the configured one
    (DOCKDASH_DOCKER_HOST) is the first engine and has no row."""

    name = models.SlugField(max_length=40, unique=True)
    endpoint = models.CharField(max_length=300)  # unix://, tcp:// or ssh://
    # tcp:// with TLS: the CA that signed the engine's certificate, and the client's
    # certificate and key (the key encrypted, dashboard.crypto); empty: no TLS.
    ca_cert = models.TextField(blank=True, default="")
    client_cert = models.TextField(blank=True, default="")
    client_key_encrypted = models.TextField(blank=True, default="")
    # Its cgroups are read by a stats agent on its node, not by the dashboard.
    agent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
