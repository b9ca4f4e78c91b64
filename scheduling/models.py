"""Imaging centres, their equipment, and the slots they offer."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from imaging_cds.vocab import Modality
from scheduling.hours import validate_opening_hours


class CentreKind(models.TextChoices):
    PUBLIC = "public", _("Public hospital")
    PRIVATE = "private", _("Private practice")


class PriceSector(models.TextChoices):
    """Assurance maladie's conventional sectors, which decide extra fees."""

    SECTOR_1 = "sector_1", _("Sector 1 (no extra fees)")
    SECTOR_2 = "sector_2", _("Sector 2 (extra fees possible)")
    NON_CONTRACTED = "non_contracted", _("Not contracted")


def validate_ae_title(value: str) -> None:
    # DICOM AE: up to 16 characters of the default repertoire, no backslash or control.
    if len(value) > 16 or not value.isascii() or "\\" in value or not value.isprintable():
        raise ValidationError(_("An AE title is at most 16 ASCII characters, no backslash."))


class Centre(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=CentreKind.choices)
    price_sector = models.CharField(max_length=16, choices=PriceSector.choices)
    address = models.CharField(max_length=300)
    postcode = models.CharField(max_length=5)
    town = models.CharField(max_length=100)
    latitude = models.FloatField()
    longitude = models.FloatField()
    phone = models.CharField(max_length=30, blank=True)
    # {"mon": [["08:00", "19:00"]], ...}; a missing day is closed.
    opening_hours = models.JSONField(default=dict, blank=True, validators=[validate_opening_hours])
    wheelchair_accessible = models.BooleanField(default=True)
    accessibility_notes = models.CharField(max_length=300, blank=True)
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="managed_centres"
    )
    # A FHIR R4 server offering Slot search; empty: slots come from our own schedules.
    feed_url = models.URLField(blank=True)
    feed_interval_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(30), MaxValueValidator(86400)]
    )
    # Bookings written back to the feed's server as FHIR Appointments (ordering.centre_fhir),
    # so the centre cannot give the slot to someone else. Opt-in: a server that only
    # publishes its Slots would refuse every write.
    fhir_appointments = models.BooleanField(
        _("Send bookings to the FHIR server"),
        default=False,
        help_text=_(
            "Each booking is created on the server above as an Appointment (with its "
            "ServiceRequest); a cancellation cancels it."
        ),
    )
    # The AE title the centre's modalities call to read its DICOM Modality Worklist
    # (ordering.worklist); empty: the centre does not use ours.
    worklist_ae_title = models.CharField(
        _("Worklist AE title"),
        max_length=16,
        blank=True,
        validators=[validate_ae_title],
        help_text=_("The AE title your modalities call for their worklist; empty: not used."),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["worklist_ae_title"],
                condition=~Q(worklist_ae_title=""),
                name="centre_unique_worklist_ae_title",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.town})"

    def clean(self) -> None:
        if self.fhir_appointments and not self.feed_url:
            raise ValidationError(
                {"fhir_appointments": _("Bookings are sent to the FHIR server: give its URL.")}
            )


class RisProfile(models.TextChoices):
    """The HL7 v2 message a centre's RIS takes a new order as (cancellation: the same
    message with order control CA)."""

    ORM_O01 = "ORM_O01", _("ORM^O01 (HL7 v2.5 general order)")
    OMI_O23 = "OMI_O23", _("OMI^O23 (HL7 v2.5.1 imaging order, IHE Scheduled Workflow)")


class RisEndpoint(models.Model):
    """Where a centre's RIS takes orders over HL7 v2 (MLLP), and which message it reads.
    A centre without one receives its orders on paper only."""

    centre = models.OneToOneField(Centre, on_delete=models.CASCADE, related_name="ris_endpoint")
    enabled = models.BooleanField(_("Enabled"), default=True)
    host = models.CharField(_("MLLP host"), max_length=200)
    port = models.PositiveIntegerField(
        _("MLLP port"), validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    use_tls = models.BooleanField(_("TLS"), default=False)
    # A CA bundle (PEM file path on the server) for a RIS with a private CA; empty: the
    # system's trusted CAs. The certificate and its host name are always checked.
    tls_ca_file = models.CharField(_("TLS CA file"), max_length=300, blank=True)
    profile = models.CharField(
        _("Message profile"), max_length=8, choices=RisProfile.choices, default=RisProfile.OMI_O23
    )
    # MSH-5 / MSH-6: how the RIS names itself; some RIS refuse a message addressed to
    # another application.
    receiving_application = models.CharField(_("Receiving application"), max_length=180)
    receiving_facility = models.CharField(_("Receiving facility"), max_length=180, blank=True)
    # While a worker delivers this centre's messages: no second worker may, so the
    # centre receives them in order. A lease, not a lock, so a dead worker's claim ends.
    delivery_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("RIS endpoint (HL7 v2)")
        verbose_name_plural = _("RIS endpoints (HL7 v2)")

    def __str__(self) -> str:
        return f"{self.centre.name} → {self.host}:{self.port}"


class Equipment(models.Model):
    centre = models.ForeignKey(Centre, on_delete=models.CASCADE, related_name="equipment")
    name = models.CharField(max_length=100)
    modality = models.CharField(max_length=2, choices=Modality.choices)
    open_bore = models.BooleanField(default=False)
    wide_bore = models.BooleanField(default=False)
    table_max_weight_kg = models.PositiveSmallIntegerField(default=150)
    paediatric = models.BooleanField(default=False)
    contrast_injection = models.BooleanField(default=True)
    sedation = models.BooleanField(default=False)
    # Catalogue procedure codes this machine performs; empty means every procedure
    # of its modality. Codes, not foreign keys: scheduling knows no guidelines.
    procedure_codes = models.JSONField(default=list, blank=True)
    # Length of one slot of the centre's own schedule on this machine (centres
    # without a feed); a procedure fits a slot at least as long as its duration.
    slot_minutes = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    # How the centre's FHIR server names this machine: the Slot.schedule reference
    # ("Schedule/irm-1"); slots of other schedules are not ours to offer.
    fhir_schedule = models.CharField(max_length=200, blank=True)
    # The machine's own AE title, as it asks the worklist for its exams
    # (ScheduledStationAETitle).
    station_ae_title = models.CharField(
        _("Station AE title"),
        max_length=16,
        blank=True,
        validators=[validate_ae_title],
        help_text=_("The machine's own AE title, as it asks the worklist for its exams."),
    )

    class Meta:
        ordering = ["centre__name", "modality", "name"]
        verbose_name_plural = "equipment"

    def __str__(self) -> str:
        return f"{self.name} — {self.centre.name}"


class SlotStatus(models.TextChoices):
    FREE = "free", _("Free")
    HELD = "held", _("Held")
    BOOKED = "booked", _("Booked")
    WITHDRAWN = "withdrawn", _("Withdrawn by the centre")


class SlotSource(models.TextChoices):
    OWN = "own", _("Own schedule")
    FHIR = "fhir", _("FHIR feed")


class Slot(models.Model):
    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="slots")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=SlotStatus.choices, default=SlotStatus.FREE)
    source = models.CharField(max_length=4, choices=SlotSource.choices, default=SlotSource.OWN)
    # The feed's own id, so that a refresh upserts instead of duplicating.
    external_id = models.CharField(max_length=200, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # While held: the first slot of the run held with it (itself for the first one), so
    # that releasing the run releases every slot of it and nothing else.
    run_head = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        indexes = [
            models.Index(fields=["equipment", "start"]),
            models.Index(fields=["status", "start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="slot_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["equipment", "external_id"],
                condition=~Q(external_id=""),
                name="slot_unique_external_id_per_equipment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.equipment} @ {self.start:%Y-%m-%d %H:%M}"


class FeedState(models.Model):
    """How a centre's availability feed (FHIR server or own schedule) is doing.

    It lives in the database so that every web and worker process reads the same
    state; beat dispatches a refresh when ``next_run_at`` is due.
    """

    centre = models.OneToOneField(Centre, on_delete=models.CASCADE, related_name="feed_state")
    next_run_at = models.DateTimeField(db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # What the last successful refresh saw, for the manager's page.
    last_slot_count = models.PositiveIntegerField(default=0)
    last_unmapped_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"feed of {self.centre_id}"


class BookingStatus(models.TextChoices):
    BOOKED = "booked", _("Booked")
    CANCELLED = "cancelled", _("Cancelled")


class Booking(models.Model):
    # The first slot of the run the exam takes (see ``run``).
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="bookings")
    procedure_code = models.CharField(max_length=80)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings"
    )
    # The caller's own reference (ordering passes its consultation id).
    reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=10, choices=BookingStatus.choices, default=BookingStatus.BOOKED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The last line of defence against a double booking.
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(status="booked"),
                name="booking_one_active_per_slot",
            ),
        ]

    def __str__(self) -> str:
        return f"booking {self.pk} of slot {self.slot_id}"

    @property
    def run_slots(self) -> list[Slot]:
        """Every slot the booking takes, in time order (one, or a run for a long exam)."""
        slots = [link.slot for link in self.run.select_related("slot").order_by("slot__start")]
        return slots or [self.slot]

    @property
    def end(self) -> datetime:
        """When the exam ends: the end of the last slot of its run."""
        return self.run_slots[-1].end


class BookingSlot(models.Model):
    """One slot a booking takes. An exam longer than its machine's slot takes several
    consecutive ones; each has its row, and no slot has two active rows."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="run")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="booking_links")
    # False once the booking is cancelled: the slot may be booked again.
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            # The last line of defence against a double booking of any slot of a run.
            models.UniqueConstraint(
                fields=["slot"], condition=Q(active=True), name="bookingslot_one_active_per_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"slot {self.slot_id} of booking {self.booking_id}"
