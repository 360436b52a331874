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
