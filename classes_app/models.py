"""Where each student's copy of a lab publishes its ports on the host, and its network's subnet."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from dashboard.models import Lab


class LabSeat(models.Model):
    """One student's copy of a lab: its block of host ports, kept across reprovisions."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="seats")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_seats"
    )
    first_port = models.PositiveIntegerField(null=True, blank=True)
    ports = models.PositiveIntegerField(default=0, help_text="how many, from first_port on")
    subnet = models.CharField(max_length=43, blank=True, help_text="of the student's lab network")
    extended_minutes = models.PositiveIntegerField(
        default=0, help_text="the student's extensions so far (idle window and end time)"
    )

    class Meta:
        ordering = ["lab", "student__username"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "student"], name="one_seat_per_student")
        ]

    def __str__(self) -> str:
        return f"{self.lab} for {self.student}"

    def port_numbers(self) -> list[int]:
        if self.first_port is None:
            return []
        return list(range(self.first_port, self.first_port + self.ports))


class LabWatch(models.Model):
    """One lab container as the culler saw it: how long it has been quiet, what it used.

    Shared by every server process through the database: the culler writes it each
    check, the pages read it (the warning of an upcoming stop, the lesson report).
    """

    seat = models.ForeignKey(LabSeat, on_delete=models.CASCADE, related_name="watches")
    container_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    quiet_since = models.DateTimeField(null=True, blank=True, help_text="None: busy when last seen")
    running = models.BooleanField(
        default=True, help_text="at the culler's last check (False: stopped, or no longer seen)"
    )
    cpu_seconds = models.FloatField(default=0.0, help_text="summed between the culler's checks")
    peak_memory = models.PositiveBigIntegerField(default=0, help_text="bytes, at the checks")
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["seat", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.seat})"
