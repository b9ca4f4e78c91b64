"""Consultations (one audited decision each) and the orders that follow them."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ordering.rpps import rpps_validate


class Consultation(models.Model):
    """One decision: what was asked, what was answered, under which rule-set version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consultations"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Keyed hash of the patient identifier (imaging_cds.pseudonym), never the identifier.
    patient_ref = models.CharField(max_length=64, db_index=True)
    indication_code = models.CharField(max_length=80)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    rule_set_version = models.PositiveIntegerField(null=True, blank=True)
    weights_version = models.PositiveIntegerField(default=0)
    prior_status = models.CharField(max_length=300, blank=True)
    availability_source = models.CharField(max_length=20, blank=True)
    availability_age_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.id)


def booking_token_new() -> str:
    # 32 random bytes: 256 bits, URL-safe, far beyond guessing.
    return secrets.token_urlsafe(32)


class OrderStatus(models.TextChoices):
    SIGNED = "signed", _("Signed")
    CANCELLED = "cancelled", _("Cancelled")


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="orders")
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    procedure = models.ForeignKey(
        "guidelines.Procedure", on_delete=models.PROTECT, related_name="orders"
    )
    booking = models.OneToOneField(
        "scheduling.Booking", null=True, blank=True, on_delete=models.PROTECT, related_name="order"
    )
    # The imaging centre must know whom to examine: the order (not the consultation)
    # carries the patient's identity, and only what the centre needs.
    patient_identifier = models.CharField(max_length=40)
    patient_identifier_kind = models.CharField(max_length=10)
    patient_birth_date = models.DateField()
    patient_sex = models.CharField(max_length=1)
    # INS identity traits the centre must read on the order (issue 19). Names live
    # here and in outbound messages only: never in a consultation, a log line, a URL
    # or an audit detail; the retention purge deletes them with the order.
    patient_birth_name = models.CharField(max_length=100)
    patient_given_names = models.CharField(max_length=150)
    # The key of the patient's booking page (QR code on the order): unguessable, so
    # the page needs no login, and it shows nothing that names the patient.
    booking_token = models.CharField(
        max_length=64, unique=True, default=booking_token_new, editable=False
    )
    status = models.CharField(
        max_length=10, choices=OrderStatus.choices, default=OrderStatus.SIGNED
    )
    signed_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return str(self.id)


class PrescriberProfile(models.Model):
    """What an imaging centre must read of the prescriber on an order: name (the
    account's), RPPS number, professional address and phone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prescriber_profile"
    )
    rpps = models.CharField(_("RPPS number"), max_length=11, validators=[rpps_validate])
    speciality = models.CharField(_("Speciality"), max_length=100, blank=True)
    address = models.CharField(_("Professional address"), max_length=300)
    postcode = models.CharField(_("Postcode"), max_length=5)
    town = models.CharField(_("Town"), max_length=100)
    phone = models.CharField(_("Phone"), max_length=30)
    # The hospital service or practice group the prescriber belongs to: the scope of a
    # decision-support mode (CdsMode) and a line of the pilot report.
    service = models.CharField(_("Service"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("prescriber profile")
        verbose_name_plural = _("prescriber profiles")

    def __str__(self) -> str:
        return f"{self.user} ({self.rpps})"


class WeightsStatus(models.TextChoices):
    PUBLISHED = "published", _("Published")
    ARCHIVED = "archived", _("Archived")


class RankingWeightSet(models.Model):
    """A version of the ranking weights (ordering.ranking.Weights), changed by editors."""

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=WeightsStatus.choices)
    values = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="published"),
                name="ordering_one_published_weight_set",
            )
        ]

    def __str__(self) -> str:
        return f"weights v{self.version} ({self.status})"


class EhrClient(models.Model):
    """An EHR allowed to call the CDS Hooks services, identified by its JWT issuer."""

    name = models.CharField(max_length=200)
    issuer = models.CharField(max_length=300, unique=True)
    # The client's public keys as a JWKS document ({"keys": [...]}); private keys never.
    jwks = models.JSONField(default=dict, blank=True)
    # Or where the client serves its JWKS (fetched, cached, refetched on rotation); a
    # token's `jku` is followed only when it is this URL.
    jwks_url = models.URLField(max_length=500, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ehr_clients",
        help_text="The api_client account the client acts as.",
    )
    active = models.BooleanField(default=True)
    # Base URLs of the FHIR servers this EHR may name as fhirServer, e.g.
    # ["https://fhir.hospital.example/r4"]: any other is never fetched, and the
    # EHR's access token never goes anywhere else (imaging_cds.outbound).
    fhir_servers = models.JSONField(default=list, blank=True)
    # The client_id this application is registered under at the EHR's SMART
    # authorization server. Set: the cards carry a "smart" link, and the EHR may
    # launch the ordering page with the patient's identity (ordering.smart).
    smart_client_id = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name


class EhrPractitioner(models.Model):
    """Who a hook's ``userId`` is here: the card's link opens the consultation only for
    the local account mapped from the EHR client's user id."""

    client = models.ForeignKey(EhrClient, on_delete=models.CASCADE, related_name="practitioners")
    # Named ehr_user_id, not user_id: that is the attribute of the ``user`` key.
    ehr_user_id = models.CharField(
        max_length=200, help_text="The hook's context.userId, e.g. Practitioner/123."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ehr_identities"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "ehr_user_id"], name="ordering_one_account_per_ehr_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.client} {self.ehr_user_id}"


class UsedJwtId(models.Model):
    """jti values already seen, kept until their token expires: a replay is refused."""

    issuer = models.CharField(max_length=300)
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "jti"], name="ordering_unique_jti_per_issuer")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.jti}"


class CdsCard(models.Model):
    """A card we issued to an EHR: its uuid is what the EHR's feedback names, so each
    card maps back to the consultation it came from."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consultation = models.ForeignKey(
        Consultation, on_delete=models.CASCADE, related_name="cds_cards"
    )
    client = models.ForeignKey(EhrClient, on_delete=models.PROTECT, related_name="cds_cards")
    service_id = models.CharField(max_length=80)
    hook_instance = models.CharField(max_length=100, blank=True)
    service_request_id = models.CharField(max_length=100, blank=True)
    # The hook's context.userId: only the account mapped from it opens the card's link.
    ehr_user_id = models.CharField(max_length=200, blank=True)
    procedure_code = models.CharField(max_length=80, blank=True)
    # {suggestion uuid: procedure code proposed instead}
    suggestions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.id)


class FeedbackOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    OVERRIDDEN = "overridden", _("Overridden")


class DecisionFeedback(models.Model):
    """What the prescriber did with the advice: accepted, or overridden and why."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.CASCADE, related_name="feedback"
    )
    card = models.ForeignKey(
        CdsCard, null=True, blank=True, on_delete=models.CASCADE, related_name="feedback"
    )
    outcome = models.CharField(max_length=12, choices=FeedbackOutcome.choices)
    accepted_procedure_code = models.CharField(max_length=80, blank=True)
    override_reason_code = models.CharField(max_length=80, blank=True)
    override_reason_display = models.CharField(max_length=300, blank=True)
    override_comment = models.TextField(blank=True)
    outcome_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.consultation_id} {self.outcome}"


class OutboundKind(models.TextChoices):
    # Order control codes (ORC-1) of the HL7 v2 order message.
    NEW = "hl7_nw", _("New order (HL7)")
    CANCEL = "hl7_ca", _("Cancellation (HL7)")
    # The booking as a FHIR Appointment (with its ServiceRequest) on the centre's FHIR
    # server, and its cancellation (ordering.centre_fhir).
    FHIR_BOOK = "fhir_book", _("Appointment (FHIR)")
    FHIR_CANCEL = "fhir_ca", _("Appointment cancelled (FHIR)")


HL7_KINDS = (OutboundKind.NEW, OutboundKind.CANCEL)
FHIR_KINDS = (OutboundKind.FHIR_BOOK, OutboundKind.FHIR_CANCEL)


class OutboundState(models.TextChoices):
    QUEUED = "queued", _("Waiting to be sent")
    SENT = "sent", _("Sent, no answer yet")
    ACKNOWLEDGED = "acknowledged", _("Received by the centre")
    REJECTED = "rejected", _("Refused by the centre")
    FAILED = "failed", _("Could not be delivered")


class OutboundMessage(models.Model):
    """The transactional outbox (ordering.outbox): a message to a centre, written in
    the transaction that signs or cancels its order, delivered later by a Celery task.
    The payload names the patient: it goes with the order (cascade), and neither it
    nor ``last_error`` is ever logged."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="outbound_messages")
    # Messages of one centre go out one at a time, oldest (lowest id) first.
    centre = models.ForeignKey(
        "scheduling.Centre", on_delete=models.CASCADE, related_name="outbound_messages"
    )
    kind = models.CharField(max_length=10, choices=OutboundKind.choices)
    # The order's placer number (ORC-2): with ``kind``, what makes a message unique, so
    # signing or cancelling twice never queues (nor delivers) a second copy.
    placer_number = models.CharField(max_length=32)
    # MSH-10, the same on every attempt: a RIS that got a message whose ACK was lost
    # recognises the resend.
    control_id = models.CharField(max_length=20, unique=True)
    payload = models.TextField()
    state = models.CharField(
        max_length=12, choices=OutboundState.choices, default=OutboundState.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Why the last attempt did not succeed, in words for the manager; no patient data.
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["placer_number", "kind"], name="ordering_one_outbound_message_per_kind"
            )
        ]
        indexes = [models.Index(fields=["centre", "state", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.placer_number} ({self.state})"


class CdsModeValue(models.TextChoices):
    """How the decision support runs: ``off`` (nothing asked of it where it can be
    skipped), ``silent`` (decided and recorded, never shown), ``active`` (shown)."""

    OFF = "off", _("Off")
    SILENT = "silent", _("Silent")
    ACTIVE = "active", _("Active")


class CdsMode(models.Model):
    """A period during which the site, or one of its services, runs in a mode. Rows are
    never edited: a change is a new row, so the history of a pilot stays readable.
    Which row applies is decided by ordering.pilot.modes.cds_mode_at only."""

    # "" is the whole site (this installation); otherwise a prescriber's service
    # (PrescriberProfile.service), whose rows win over the site's.
    service = models.CharField(_("Service"), max_length=100, blank=True)
    mode = models.CharField(_("Mode"), max_length=10, choices=CdsModeValue.choices)
    starts_on = models.DateField(_("From"))
    # Inclusive; empty: until another period replaces it.
    ends_on = models.DateField(_("Until"), null=True, blank=True)
    reason = models.TextField(_("Reason"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "-changed_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="ordering_cds_mode_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service or '*'} {self.mode} {self.starts_on}"


class PilotChannel(models.TextChoices):
    PAGE = "page", _("Prescriber page")
    CDS_HOOKS = "cds_hooks", _("CDS Hooks")
    API = "api", _("REST API")


class RatingClass(models.TextChoices):
    INDICATED = "indicated", _("Indicated")
    NOT_INDICATED = "not_indicated", _("Not indicated")
    NO_GUIDELINE = "no_guideline", _("No guideline")


class PrescriberAnswer(models.TextChoices):
    NONE = "", _("No answer yet")
    ACCEPTED = "accepted", _("Accepted")
    OVERRIDDEN = "overridden", _("Overridden")
    CHANGED = "changed", _("Changed to another exam")
    ABANDONED = "abandoned", _("Abandoned")


class DecisionMeasure(models.Model):
    """What the pilot report counts of one decision, written as it happens (decision,
    options shown, card, signature, feedback): one row per consultation, so that a
    decision never signed (abandoned) is counted too. No patient data."""

    consultation = models.OneToOneField(
        Consultation, primary_key=True, on_delete=models.CASCADE, related_name="measure"
    )
    channel = models.CharField(max_length=10, choices=PilotChannel.choices)
    # Who prescribed: the page's prescriber, or the account a hook's userId maps to
    # (the EHR's own account when none does). Named in the report to the medical
    # director only.
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    mode = models.CharField(max_length=10, choices=CdsModeValue.choices)
    service = models.CharField(max_length=100, blank=True)
    indication_code = models.CharField(max_length=80)
    # When the indication reached the server, and when the options (page) or the
    # cards (CDS Hooks) left it: server clocks only, never the browser's.
    decided_at = models.DateTimeField()
    options_shown_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    # The exam the prescriber asked for (CDS Hooks: the draft order's), then the one
    # signed; the rating class of the latter, or of the situation while nothing is.
    requested_procedure_code = models.CharField(max_length=80, blank=True)
    procedure_code = models.CharField(max_length=80, blank=True)
    rating = models.CharField(max_length=15, choices=RatingClass.choices)
    card_shown = models.BooleanField(default=False)
    card_interruptive = models.BooleanField(default=False)
    answer = models.CharField(max_length=12, choices=PrescriberAnswer.choices, blank=True)
    override_reason = models.CharField(max_length=300, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["mode", "decided_at"], name="ordering_measure_mode_day")]

    def __str__(self) -> str:
        return f"{self.consultation_id} {self.mode} {self.rating}"
