"""An order signed without a booking (the patient books later) and the printed order a
French imaging centre accepts: page and REST through one service, the patient's
booking page by token, the PDF read back as text, the e-mail, the RPPS check, and
names that live on the order only and go with it. Real PostgreSQL, Redis, Orthanc."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import date, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from pypdf import PdfReader
from rest_framework.authtoken.models import Token

from imaging_cds.models import AuditEvent
from ordering.models import Consultation, Order, PrescriberProfile
from ordering.order_pdf import SIGNATURE_TOP, order_pdf_layout
from ordering.order_sheet import date_text, order_reference, order_sheet
from ordering.rpps import luhn_valid, rpps_validate
from scheduling.models import Booking, Slot, SlotStatus
from tests.actors import Actors
from tests.ordering.test_flow import PATIENT as FLOW_PATIENT
from tests.ordering.test_flow import first_slot
from tests.world import (
    API_PATIENT,
    API_PATIENT_NAMES,
    PATIENT_NAMES,
    WITH_MAMMOGRAM,
    WITHOUT_PRIORS,
    FlowPacs,
)

# The flow tests' patient, with an eGFR and its date for the printed order.
PATIENT = {**FLOW_PATIENT, "egfr": "58", "egfr_date": "2026-11-03"}
RPPS = "10000000017"  # fictional, with a valid Luhn key


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    PrescriberProfile.objects.create(
        user=actors.alice,
        rpps=RPPS,
        speciality="Médecine générale",
        address="Cabinet médical, 12 rue de l’Exemple",
        postcode="35000",
        town="Rennes",
        phone="02 99 00 00 00",
    )
    User.objects.filter(pk=actors.alice.pk).update(first_name="Claire", last_name="Martin")
    client.force_login(actors.alice)
    return client


@pytest.fixture
def emr(actors: Actors) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=actors.emr).key}"}


def decide(alice: Client, indication: str = "breast-lump", **changes: Any) -> Consultation:
    response = alice.post("/orders/new/", {**PATIENT, **changes, "indication_code": indication})
    assert response.status_code == 302, response.content.decode()[:3000]
    match = re.search(r"/orders/c/([0-9a-f-]{36})/", response["Location"])
    assert match
    return Consultation.objects.get(pk=match.group(1))


def sign_later(alice: Client, consultation: Consultation, code: str) -> Order:
    response = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"procedure_code": code, "booking": "later"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    return Order.objects.get(consultation=consultation)


def pdf_text(data: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(p.extract_text() for p in reader.pages), len(reader.pages)


def names_nowhere_but_the_order(order_pk: Any) -> None:
    """Names are on the order, never in a consultation, an audit record or a URL."""
    for name in PATIENT_NAMES.values():
        assert not Consultation.objects.filter(inputs__icontains=name).exists()
        assert name not in json.dumps(list(Consultation.objects.values("inputs", "outputs")))
        events = json.dumps(list(AuditEvent.objects.values("detail", "object_id", "reason")))
        assert name not in events


def test_the_page_signs_an_order_without_a_slot_and_gives_what_the_patient_needs_to_book(
    alice: Client, world: FlowPacs
) -> None:
    consultation = decide(alice)
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    assert 'name="booking" value="later"' in page
    slots_before = Slot.objects.filter(status=SlotStatus.BOOKED).count()
    order = sign_later(alice, consultation, "us-breast")
    assert order.booking is None
    assert order.patient_birth_name == PATIENT_NAMES["birth_name"]
    assert order.patient_given_names == PATIENT_NAMES["given_names"]
    assert Slot.objects.filter(status=SlotStatus.BOOKED).count() == slots_before
    assert not Booking.objects.exists()
    sign = AuditEvent.objects.get(action="order.sign")
    assert sign.detail["booking_id"] is None

    response = alice.get(f"/orders/{order.pk}/")
    body = html.unescape(response.content.decode())
    assert order_reference(order) in body
    assert f"/rdv/{order.booking_token}/" in body
    assert "<svg" in body  # the QR code
    assert "02 99 00 10" in body  # a centre's phone (the demo gives each one)
    assert "tel:" in body
    names_nowhere_but_the_order(order.pk)
    for name in PATIENT_NAMES.values():
        assert name not in response.request["PATH_INFO"]


def test_rest_signs_without_slot_id_with_the_same_checks_and_answers_the_booking_details(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    decision = client.post(
        "/api/v1/evaluate",
        {"patient": API_PATIENT, "indication_code": "breast-lump"},
        content_type="application/json",
        **emr,
    ).json()
    identity = {
        "patient_identifier": API_PATIENT["identifier"],
        "patient_identifier_kind": API_PATIENT["identifier_kind"],
        "patient_birth_date": API_PATIENT["birth_date"],
        "patient_sex": API_PATIENT["sex"],
        **API_PATIENT_NAMES,
    }
    base = {"consultation": decision["consultation_id"], "procedure_code": "us-breast"}
    # The same checks minus the slot: another patient, an exam not offered, no names.
    for changes, field in (
        ({"patient_identifier": "OTHER01"}, "patient_identifier"),
        ({"procedure_code": "ct-head"}, "procedure_code"),
        ({"patient_birth_name": "  "}, "patient_birth_name"),
        ({"patient_given_names": "R2-D2"}, "patient_given_names"),
    ):
        refused = client.post(
            "/api/v1/orders",
            {**base, **identity, **changes},
            content_type="application/json",
            **emr,
        )
        assert refused.status_code == 400, (changes, refused.content)
        assert field in refused.json()["error"]["fields"], refused.json()
    assert not Order.objects.exists()

    response = client.post(
        "/api/v1/orders", {**base, **identity}, content_type="application/json", **emr
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slot_id"] is None and body["slot_start"] is None
    order = Order.objects.get(pk=body["order_id"])
    assert body["reference"] == order_reference(order)
    assert body["booking_url"].endswith(f"/rdv/{order.booking_token}/")
    assert body["booking_centres"], "the demo has centres doing breast ultrasound"
    first = body["booking_centres"][0]
    assert first["phone"] and first["next_slots"]
    distances = [c["distance_km"] for c in body["booking_centres"]]
    assert distances == sorted(distances), "nearest first"
    assert PATIENT_NAMES["birth_name"] not in json.dumps(
        client.get(f"/api/v1/consultations/{decision['consultation_id']}", **emr).json()
    )
    names_nowhere_but_the_order(order.pk)


def test_the_booking_page_by_token_shows_the_exam_and_centres_and_nothing_that_names_the_patient(
    alice: Client, world: FlowPacs
) -> None:
    order = sign_later(alice, decide(alice), "us-breast")
    anonymous = Client()
    response = anonymous.get(f"/rdv/{order.booking_token}/")
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    page = html.unescape(response.content.decode())
    assert "Échographie mammaire" in page
    assert order_reference(order) in page
    assert "02 99 00 10" in page
    for secret in (
        *PATIENT_NAMES.values(),
        WITHOUT_PRIORS,
        "1979",  # the birth year
        "Masse",  # the indication (« Masse ou nodule palpable du sein »)
        "Martin",  # the prescriber
        "km",  # distances would say where the patient lives
        str(order.pk),
        str(order.consultation_id),
    ):
        assert secret not in page, secret
    assert AuditEvent.objects.filter(action="order.booking_page.read").exists()
    # A wrong token, a shortened one, a booked order's: nothing to see.
    assert anonymous.get("/rdv/not-a-token/").status_code == 404
    assert anonymous.get(f"/rdv/{order.booking_token[:-1]}/").status_code == 404
    # Cancelled: the patient is told there is nothing to book.
    alice.post(f"/orders/{order.pk}/cancel/")
    gone = anonymous.get(f"/rdv/{order.booking_token}/")
    assert gone.status_code == 410
    assert "Échographie" not in gone.content.decode()
    # Expired.
    fresh = sign_later(alice, decide(alice), "us-breast")
    Order.objects.filter(pk=fresh.pk).update(signed_at=timezone.now() - timedelta(days=400))
    assert anonymous.get(f"/rdv/{fresh.booking_token}/").status_code == 404


def test_a_booked_orders_token_opens_no_booking_page(alice: Client, world: FlowPacs) -> None:
    consultation = decide(alice)
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    slot_id, code = first_slot(page)
    signed = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert signed.status_code == 302
    order = Order.objects.get(consultation=consultation)
    assert order.booking is not None
    assert Client().get(f"/rdv/{order.booking_token}/").status_code == 404


def test_the_pdf_prints_what_a_centre_needs_on_one_page_and_nothing_it_must_not(
    alice: Client, world: FlowPacs
) -> None:
    consultation = decide(
        alice, "breast-lump", weight_kg="72", contrast_allergy="on", mri_unsafe_implant="on"
    )
    order = sign_later(alice, consultation, "us-breast")
    response = alice.get(f"/orders/{order.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert PATIENT_NAMES["birth_name"] not in response["Content-Disposition"]
    text, pages = pdf_text(response.content)
    assert pages == 1
    # The PDF's text layer gives French non-breaking spaces back as plain ones.
    flat = " ".join(text.replace("\u00a0", " ").split())
    for expected in (
        "Claire Martin",
        RPPS,
        "Cabinet médical, 12 rue de l’Exemple, 35000 Rennes",
        "02 99 00 00 00",
        PATIENT_NAMES["birth_name"],
        PATIENT_NAMES["given_names"],
        "2 mai 1979",
        WITHOUT_PRIORS,
        "Échographie mammaire",
        "Masse ou nodule palpable du sein",
        "58 mL/min/1,73 m²",
        "3 novembre 2026",
        "72 kg",
        order_reference(order),
    ):
        assert expected in flat, (expected, flat)
    for forbidden in (str(order.pk), str(consultation.pk), "signée", "créneau réservé"):
        assert forbidden not in flat, forbidden
    sheet = order_sheet(order)
    assert sheet.statement and sheet.statement.startswith("Indiqué")
    assert " ".join(sheet.statement.replace("\u00a0", " ").split()) in flat
    layout = order_pdf_layout(sheet, booking_url="https://x.example/rdv/t/", centres=[])
    assert layout.content_bottom < SIGNATURE_TOP


def test_an_exam_flagged_redundant_is_never_printed_indicated(
    alice: Client, world: FlowPacs
) -> None:
    consultation = decide(
        alice,
        "breast-screening-average-risk",
        identifier=WITH_MAMMOGRAM,
        birth_date="1960-03-01",
        egfr="",
        egfr_date="",
    )
    mammogram = next(
        r for r in consultation.outputs["ratings"] if r["procedure_code"] == "mg-breast"
    )
    assert mammogram["redundancy"] is not None and mammogram["category"] == "indicated"
    order = sign_later(alice, consultation, "mg-breast")
    text, pages = pdf_text(alice.get(f"/orders/{order.pk}/pdf/").content)
    assert pages == 1
    assert "Indiqué" not in text
    # The prior exam is said instead, with its date (the words are the catalogue's).
    with translation.override("fr"):
        prior_day = date_text(date.fromisoformat(mammogram["redundancy"]["performed_on"]))
    assert prior_day in " ".join(text.split())
    assert "Indiqué" not in alice.get(f"/orders/{order.pk}/").content.decode().split("no-print")[0]


def test_the_order_is_emailed_to_the_patient_and_the_address_is_kept_nowhere(
    alice: Client, world: FlowPacs
) -> None:
    order = sign_later(alice, decide(alice), "us-breast")
    address = "patient.essai@example.org"
    bad = alice.post(f"/orders/{order.pk}/email/", {"address": "not an address"})
    assert bad.status_code == 400 and not mail.outbox
    sent = alice.post(f"/orders/{order.pk}/email/", {"address": address})
    assert sent.status_code == 302
    [message] = mail.outbox
    assert message.to == [address]
    for name in PATIENT_NAMES.values():
        assert name not in message.subject
    assert order.booking_token in message.body
    [(filename, content, mimetype)] = message.attachments
    assert mimetype == "application/pdf" and PATIENT_NAMES["birth_name"] not in filename
    text, _ = pdf_text(content)
    assert PATIENT_NAMES["birth_name"] in text
    assert AuditEvent.objects.filter(action="order.email").exists()
    stored = json.dumps(list(AuditEvent.objects.values()), default=str) + json.dumps(
        list(Order.objects.values()), default=str
    )
    assert address not in stored


def test_the_retention_purge_deletes_the_names_with_the_order(
    alice: Client, world: FlowPacs
) -> None:
    order = sign_later(alice, decide(alice), "us-breast")
    Consultation.objects.filter(pk=order.consultation_id).update(
        created_at=timezone.now() - timedelta(days=4000)
    )
    call_command("retention_purge", stdout=StringIO())
    assert not Order.objects.filter(pk=order.pk).exists()
    for name in PATIENT_NAMES.values():
        assert not Order.objects.filter(patient_birth_name=name).exists()
        assert not Order.objects.filter(patient_given_names=name).exists()
    assert Client().get(f"/rdv/{order.booking_token}/").status_code == 404


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("10000000017", True),
        ("10000000025", True),
        ("10000000018", False),  # a wrong key
        ("1000000001", False),  # ten digits
        ("100000000170", False),  # twelve
        ("1000000001A", False),
        ("", False),
    ],
)
def test_an_rpps_number_is_eleven_digits_with_a_luhn_key(number: str, valid: bool) -> None:
    if valid:
        rpps_validate(number)
    else:
        with pytest.raises(ValidationError):
            rpps_validate(number)


def test_the_luhn_check_matches_the_published_example() -> None:
    # The textbook example of ISO/IEC 7812-1 Annex B: 7992739871 takes the key 3.
    assert luhn_valid("79927398713")
    assert not any(luhn_valid(f"7992739871{d}") for d in "012456789")


def test_the_prescriber_edits_the_profile_and_a_bad_rpps_is_refused_next_to_its_field(
    client: Client, actors: Actors
) -> None:
    client.force_login(actors.bob)
    data = {
        "first_name": "Hugo",
        "last_name": "Bernard",
        "rpps": "100 000 000 25",
        "speciality": "Médecine générale",
        "address": "3 place de la Démonstration",
        "postcode": "35000",
        "town": "Rennes",
        "phone": "02 99 00 00 01",
    }
    refused = client.post("/orders/profile/", {**data, "rpps": "10000000026"})
    assert refused.status_code == 400
    assert "RPPS" in html.unescape(refused.content.decode())
    assert not PrescriberProfile.objects.exists()
    saved = client.post("/orders/profile/", data)
    assert saved.status_code == 302
    profile = PrescriberProfile.objects.get(user=actors.bob)
    assert profile.rpps == "10000000025"
    actors.bob.refresh_from_db()
    assert actors.bob.get_full_name() == "Hugo Bernard"
    # The admin checks it the same way (the model's validator).
    profile.rpps = "12345678901"
    with pytest.raises(ValidationError):
        profile.full_clean()
