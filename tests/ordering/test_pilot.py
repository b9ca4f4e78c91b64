"""The pilot: modes per site, service and period, what the page records of each
decision in silent and active mode, and the report, on real PostgreSQL and Redis."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from imaging_cds.models import AuditEvent
from imaging_cds.roles import Role
from ordering.models import (
    CdsMode,
    CdsModeValue,
    Consultation,
    DecisionMeasure,
    Order,
    PilotChannel,
    PrescriberAnswer,
    PrescriberProfile,
    RatingClass,
)
from ordering.pilot.modes import cds_mode_at, cds_mode_set
from ordering.pilot.report import Filters, pilot_report, quantile_ranks, wilson
from tests.actors import Actors, make_user
from tests.ordering.test_flow import consultation_of, first_slot, start
from tests.world import FlowPacs


@pytest.fixture
def director(db: None) -> User:
    user = make_user("mona", Role.MEDICAL_DIRECTOR)
    user.first_name, user.last_name = "Mona", "Directrice"
    user.save()
    return user


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()) + timedelta(hours=hour))


# --- the one selector --------------------------------------------------------------------


def test_with_no_period_declared_the_support_is_active(actors: Actors) -> None:
    assert cds_mode_at(service="", when=timezone.now()) == CdsModeValue.ACTIVE


def test_the_mode_is_the_latest_period_of_the_most_specific_scope(actors: Actors) -> None:
    d = date(2026, 3, 2)
    cds_mode_set(
        user=actors.erin, mode="silent", starts_on=d, ends_on=d + timedelta(days=27), reason="T0"
    )
    cds_mode_set(user=actors.erin, mode="active", starts_on=d + timedelta(days=28), reason="T1")
    cds_mode_set(
        user=actors.erin,
        mode="off",
        service="Urgences",
        starts_on=d + timedelta(days=7),
        ends_on=d + timedelta(days=13),
        reason="Urgences not ready",
    )
    assert cds_mode_at(service="", when=at(d - timedelta(days=1))) == CdsModeValue.ACTIVE
    assert cds_mode_at(service="", when=at(d)) == CdsModeValue.SILENT
    # The end day is inclusive, in the site's time zone.
    assert cds_mode_at(service="", when=at(d + timedelta(days=27), 23)) == CdsModeValue.SILENT
    assert cds_mode_at(service="", when=at(d + timedelta(days=28), 0)) == CdsModeValue.ACTIVE
    assert cds_mode_at(service="Urgences", when=at(d + timedelta(days=8))) == CdsModeValue.OFF
    assert cds_mode_at(service="Cardiologie", when=at(d + timedelta(days=8))) == "silent"
    assert cds_mode_at(service="Urgences", when=at(d + timedelta(days=14))) == "silent"


def test_only_an_editor_or_the_medical_director_changes_the_mode_with_a_reason_audited(
    client: Client, actors: Actors, director: User
) -> None:
    form = {"mode": "silent", "service": "", "starts_on": "2026-03-02", "reason": "Baseline"}
    client.force_login(actors.alice)
    assert client.post("/reports/pilot/modes/", form).status_code == 403
    client.force_login(director)
    assert client.post("/reports/pilot/modes/", {**form, "reason": ""}).status_code == 400
    assert not CdsMode.objects.exists()
    response = client.post("/reports/pilot/modes/", form)
    assert response.status_code == 302
    row = CdsMode.objects.get()
    assert (row.mode, row.reason, row.changed_by) == ("silent", "Baseline", director)
    event = AuditEvent.objects.get(action="cds_mode.set")
    assert event.actor_username == "mona" and event.reason == "Baseline"
    assert event.detail["mode"] == "silent" and event.detail["starts_on"] == "2026-03-02"
    client.force_login(actors.erin)
    assert "Baseline" in client.get("/reports/pilot/modes/").content.decode()


# --- the page, silent and active -----------------------------------------------------------


def _sign_first(client: Client, consultation: Consultation) -> str:
    page = client.get(f"/orders/c/{consultation.pk}/").content.decode()
    slot_id, code = first_slot(page)
    client.post(f"/orders/c/{consultation.pk}/hold/", {"slot_id": slot_id, "procedure_code": code})
    signed = client.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert signed.status_code == 302, signed.content.decode()[:2000]
    return page


def test_in_silent_mode_the_page_offers_exams_and_slots_without_ratings_and_signs(
    client: Client, actors: Actors, world: FlowPacs
) -> None:
    PrescriberProfile.objects.create(
        user=actors.alice,
        rpps="10000000017",
        address="1 rue A",
        postcode="35000",
        town="Rennes",
        phone="0299000000",
        service="Médecine générale Rennes",
    )
    cds_mode_set(user=actors.erin, mode="silent", starts_on=timezone.localdate(), reason="Baseline")
    client.force_login(actors.alice)
    consultation = consultation_of(start(client, "breast-lump"))
    page = _sign_first(client, consultation)
    assert "Échographie mammaire" in page
    # Neither the category, nor the rule's reason and source, nor why an option ranks.
    for said in ("Indiqué", "badge cat-", "Source", "Pourquoi ce rang", "Score"):
        assert said not in page, said
    measure = DecisionMeasure.objects.get(consultation=consultation)
    assert measure.mode == CdsModeValue.SILENT
    assert measure.channel == PilotChannel.PAGE
    assert measure.service == "Médecine générale Rennes"
    assert measure.prescriber == actors.alice
    assert measure.indication_code == "breast-lump"
    assert measure.rating == RatingClass.INDICATED and not measure.card_shown
    assert measure.answer == PrescriberAnswer.ACCEPTED
    assert measure.decided_at <= measure.options_shown_at <= measure.signed_at  # type: ignore[operator]
    # The decision is recorded in full: the ratings are in the consultation.
    assert consultation.outputs["ratings"]


def test_in_active_mode_the_page_shows_ratings_and_a_decision_keeps_its_mode(
    client: Client, actors: Actors, world: FlowPacs
) -> None:
    client.force_login(actors.alice)
    consultation = consultation_of(start(client, "breast-lump"))
    page = client.get(f"/orders/c/{consultation.pk}/").content.decode()
    assert "Indiqué" in page and "Pourquoi ce rang" in page
    measure = DecisionMeasure.objects.get(consultation=consultation)
    assert measure.mode == CdsModeValue.ACTIVE and measure.card_shown
    # Going silent afterwards does not hide what this decision already showed.
    cds_mode_set(user=actors.erin, mode="silent", starts_on=timezone.localdate(), reason="x")
    assert "Indiqué" in client.get(f"/orders/c/{consultation.pk}/").content.decode()


def test_a_page_decision_with_no_imaging_indicated_is_flagged(
    client: Client, actors: Actors, world: FlowPacs
) -> None:
    cds_mode_set(user=actors.erin, mode="silent", starts_on=timezone.localdate(), reason="x")
    client.force_login(actors.alice)
    consultation = consultation_of(start(client, "low-back-pain-acute", sex="M", pregnancy="no"))
    page = client.get(f"/orders/c/{consultation.pk}/").content.decode()
    assert "Aucune imagerie" not in page and "No imaging is indicated" not in page
    measure = DecisionMeasure.objects.get(consultation=consultation)
    assert measure.rating == RatingClass.NOT_INDICATED


# --- the report ---------------------------------------------------------------------------


def _measure(
    who: User,
    mode: str,
    *,
    rating: str = RatingClass.INDICATED,
    answer: str = "",
    reason: str = "",
    interruptive: bool = False,
    seconds: float = 4.0,
    days_ago: int = 10,
    channel: str = PilotChannel.CDS_HOOKS,
    service: str = "GP",
) -> DecisionMeasure:
    decided = timezone.now() - timedelta(days=days_ago)
    consultation = Consultation.objects.create(
        prescriber=who, patient_ref="x" * 64, indication_code="breast-lump"
    )
    return DecisionMeasure.objects.create(
        consultation=consultation,
        channel=channel,
        prescriber=who,
        mode=mode,
        service=service,
        indication_code="breast-lump",
        decided_at=decided,
        options_shown_at=decided + timedelta(seconds=seconds),
        rating=rating,
        card_shown=mode == "active",
        card_interruptive=interruptive,
        answer=answer,
        override_reason=reason,
        answered_at=decided + timedelta(seconds=20) if answer else None,
    )


def test_wilson_and_the_quantile_ranks_give_the_textbook_values() -> None:
    interval = wilson(8, 10)
    assert round(interval.low or 0, 3) == 0.490 and round(interval.high or 0, 3) == 0.943
    zero = wilson(0, 20)
    assert zero.low == 0.0 and round(zero.high or 0, 3) == 0.161
    assert wilson(0, 0).low is None
    # Median of 100 values: rank 50, interval ranks 40 to 60 (n q ± 1.96 √(n q (1 − q))).
    assert quantile_ranks(100, 0.5) == (50, 40, 60)


def test_the_report_sets_silent_against_active_with_counts_and_intervals(
    actors: Actors,
) -> None:
    for i in range(10):
        _measure(
            actors.alice, "silent", rating="not_indicated" if i < 4 else "indicated", seconds=2 + i
        )
    _measure(actors.alice, "silent", rating="no_guideline")
    for i in range(10):
        _measure(
            actors.bob,
            "active",
            rating="not_indicated" if i < 5 else "indicated",
            answer="changed" if i < 2 else ("overridden" if i < 4 else "accepted"),
            reason="patient-preference" if i < 4 else "",
            interruptive=i == 0,
            seconds=5 + i,
        )
    # A page decision never signed, 3 days old: abandoned, a flagged one counts as changed.
    _measure(actors.bob, "active", rating="not_indicated", channel=PilotChannel.PAGE)
    # Off is not part of the comparison.
    _measure(actors.bob, "off")
    report = pilot_report(Filters())
    figures = {f.key: f.by_mode for f in report.figures}
    assert report.totals == {"silent": 11, "active": 11}
    coverage = figures["coverage"]["silent"]
    assert (coverage.count, coverage.total) == (10, 11)  # type: ignore[union-attr]
    changed = figures["flagged_changed"]["active"]
    assert (changed.count, changed.total) == (3, 6)  # type: ignore[union-attr]
    ordered = figures["not_indicated_ordered"]["active"]
    assert (ordered.count, ordered.total) == (3, 11)  # type: ignore[union-attr]
    assert figures["interruptive"]["active"].count == 1
    median = figures["to_options_p50"]["active"]
    assert median.value == 9.0 and median.count == 11
    answered = figures["to_answer_p50"]
    assert (answered["active"].value, answered["active"].count) == (20.0, 10)
    assert answered["silent"].count == 0
    [(reason, share)] = report.reasons["active"]
    assert reason == "patient-preference" and (share.count, share.total) == (2, 2)


def test_the_report_names_prescribers_to_the_medical_director_only(
    client: Client, actors: Actors, director: User
) -> None:
    actors.alice.first_name, actors.alice.last_name = "Alice", "Prescriptrice"
    actors.alice.save()
    _measure(actors.alice, "silent")
    _measure(actors.alice, "active")
    client.force_login(actors.alice)
    assert client.get("/reports/pilot/").status_code == 403
    client.force_login(actors.erin)
    page = client.get("/reports/pilot/").content.decode()
    assert "Prescriptrice" not in page and "Prescripteur 1" in page
    client.force_login(director)
    page = client.get("/reports/pilot/").content.decode()
    assert "Alice Prescriptrice" in page and 'data-figure="coverage"' in page
    export = client.get("/reports/pilot/report.csv")
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    header = ["section", "figure", "mode", "unit", "value", "count", "ci95_low", "ci95_high"]
    assert rows[0] == header
    assert rows[1][:6] == ["figure", "coverage", "silent", "%", "100.0000", "1 / 1"]
    assert any("Alice Prescriptrice" in row for row in rows)
    assert AuditEvent.objects.filter(action="pilot_report.export").exists()
    printed = client.get("/reports/pilot/report.pdf")
    assert printed["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(printed.content)).pages)
    assert "Rapport du pilote" in text and "Alice Prescriptrice" in text
    client.force_login(actors.erin)
    printed = client.get("/reports/pilot/report.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(printed.content)).pages)
    assert "Prescriptrice" not in text and "Prescripteur 1" in text


# --- the demo pilot ----------------------------------------------------------------------


def test_the_demo_pilot_fills_four_silent_then_four_active_weeks_and_replaces_itself(
    client: Client, actors: Actors, world: FlowPacs
) -> None:
    out = io.StringIO()
    call_command("demo_pilot", "--force", stdout=out)
    assert "silent" in out.getvalue()
    report = pilot_report(Filters())
    assert report.totals["silent"] > 300 and report.totals["active"] > 300
    (silent_from, silent_to), (active_from, active_to) = (
        report.periods["silent"],
        report.periods["active"],
    )
    assert silent_from and silent_to and active_from and active_to
    assert silent_to < active_from and (active_to - silent_from).days < 7 * 8
    figures = {f.key: f.by_mode for f in report.figures}
    # The cards change orders in the active weeks only; silent shows nothing.
    assert figures["cards"]["silent"].count == 0
    assert figures["interruptive"]["active"].count > 0
    # No patient behind it: no identifier, no order, no booking.
    assert not Order.objects.exists()
    total = DecisionMeasure.objects.count()
    call_command("demo_pilot", "--force", stdout=io.StringIO())
    assert DecisionMeasure.objects.count() == total
    assert CdsMode.objects.count() == 2
    client.force_login(actors.erin)
    page = client.get("/reports/pilot/")
    assert page.status_code == 200 and "Prescripteur 6" in page.content.decode()


def test_the_plots_are_svg_images_with_no_script_under_their_own_policy(
    client: Client, actors: Actors, director: User
) -> None:
    _measure(actors.alice, "silent", seconds=3)
    _measure(actors.alice, "active", seconds=12, interruptive=True)
    client.force_login(director)
    page = client.get("/reports/pilot/").content.decode()
    assert 'src="/reports/pilot/plot/shares.svg"' in page
    for name in ("shares", "to_options", "to_signature"):
        plot = client.get(f"/reports/pilot/plot/{name}.svg")
        assert plot.status_code == 200 and plot["Content-Type"] == "image/svg+xml"
        body = plot.content.decode()
        assert "<svg" in body and "<script" not in body.lower()
        policy = plot["Content-Security-Policy"]
        assert "script-src 'none'" in policy and "default-src 'none'" in policy
    assert client.get("/reports/pilot/plot/other.svg").status_code == 404
    # The page itself keeps the site's policy: no inline style, no inline script.
    policy = client.get("/reports/pilot/")["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
