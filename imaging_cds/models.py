"""The audit trail: append-only (the database refuses updates and deletes)."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Plain values, not foreign keys: deleting a user must never rewrite the trail.
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=80, blank=True)
    # Keyed hash of the patient identifier (imaging_cds.pseudonym); never the identifier.
    patient_ref = models.CharField(max_length=64, blank=True, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_username} {self.action}"
