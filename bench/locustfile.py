"""Locust users for bench/load_run.py: prescribers doing the whole flow through the
real pages, and EHR clients on the REST API and the CDS Hooks order-select service.
Run by load_run.py, not by hand.

Every request is also written to $LOAD_EVENTS (CSV: time, step, ms, status, 1 if the
answer carried Retry-After) so the run can report per step and per fault window."""

from __future__ import annotations

import csv
import os
import random
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from locust import HttpUser, between, events, task

INDICATIONS = ["breast-lump", "breast-screening-average-risk", "headache-thunderclap"]
_lock = threading.Lock()
_events_file = open(os.environ["LOAD_EVENTS"], "a", newline="")  # noqa: SIM115
_writer = csv.writer(_events_file)


@events.request.add_listener
def _record(name: str, response_time: float, response: Any, exception: Any, **kw: Any) -> None:
    status = getattr(response, "status_code", 0) if response is not None else 0
    headers = getattr(response, "headers", None) or {}
    retry_after = "1" if "Retry-After" in headers else ""
    with _lock:
        _writer.writerow([f"{time.time():.3f}", name, f"{response_time:.1f}", status, retry_after])
        _events_file.flush()


def _csrf(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    return match.group(1) if match else ""


class Prescriber(HttpUser):
    weight = 9
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        number = random.randint(1, int(os.environ.get("LOAD_PRESCRIBERS", "50")))
        page = self.client.get("/accounts/login/", name="login-page").text
        self.client.post(
            "/accounts/login/",
            {
                "username": f"load-{number:03d}",
                "password": os.environ["LOAD_PASSWORD"],
                "csrfmiddlewaretoken": _csrf(page),
            },
            name="login",
        )

    def _headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", "")}

    @task
    def order_flow(self) -> None:
        patient = {
            "identifier_kind": "local",
            "identifier": f"LOADPAT{random.randint(1, 400):04d}",
            "birth_date": "1968-04-12",
            "sex": "F",
            "birth_name": "CHARGE",
            "given_names": "Essai",
            "postcode": "35000",
            "pregnancy": "no",
            "weight_kg": "64",
            "egfr": "90",
            "indication_code": random.choice(INDICATIONS),
        }
        with self.client.post(
            "/orders/new/",
            patient,
            headers=self._headers(),
            name="new",
            allow_redirects=False,
            catch_response=True,
        ) as started:
            if started.status_code != 302:
                started.failure(f"new: {started.status_code}")
                return
            location = started.headers["Location"]
        page = self.client.get(location, name="consultation").text
        slot = re.search(r'name="slot_id" value="(\d+)"', page)
        code = re.search(r'name="procedure_code" value="([a-z0-9-]+)"', page)
        if not (slot and code):
            return  # no imaging indicated, or no slot: a normal answer
        choice = {"slot_id": slot.group(1), "procedure_code": code.group(1)}
        for step in ("hold", "sign"):
            with self.client.post(
                f"{location}{step}/",
                choice,
                headers=self._headers(),
                name=step,
                allow_redirects=False,
                catch_response=True,
            ) as answer:
                # 409: someone took the slot first. A correct answer, not an error.
                if answer.status_code in (200, 302, 409):
                    answer.success()
                if answer.status_code == 409:
                    return


class EhrClient(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    @task
    def procedures(self) -> None:
        self.client.get(
            "/api/v1/procedures?limit=20",
            headers={"Authorization": f"Token {os.environ['LOAD_API_TOKEN']}"},
            name="api-procedures",
        )


ORDER_SELECT = "/cds-services/imaging-order-select"
PROCEDURES = "https://imaging-cds.example/fhir/CodeSystem/procedure"
REASONS = ["dépistage du cancer du sein", "nodule du sein"]


class CdsHooksEhr(HttpUser):
    """An EHR calling order-select as a prescriber picks a mammogram: a JWT signed with
    the key load_run.py registered, a fresh jti each call (a used one is refused)."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.key = Path(os.environ["LOAD_EHR_KEY"]).read_bytes()

    def _token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": os.environ["LOAD_EHR_ISSUER"],
            "aud": f"{self.host}{ORDER_SELECT}",
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": "load-1", "typ": "JWT"}
        return jwt.encode(claims, self.key, algorithm="RS384", headers=headers)

    @task
    def order_select(self) -> None:
        patient = {
            "resourceType": "Patient",
            "id": "p1",
            "identifier": [
                {"system": "urn:oid:1.2.3.4.local", "value": f"LOADPAT{random.randint(1, 400):04d}"}
            ],
            "birthDate": "1960-03-01",
            "gender": "female",
            "address": [{"postalCode": "35000"}],
        }
        order = {
            "resourceType": "ServiceRequest",
            "id": "sr1",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": PROCEDURES, "code": "mg-breast"}]},
            "reasonCode": [{"text": random.choice(REASONS)}],
        }
        empty = {"resourceType": "Bundle", "type": "searchset"}
        body = {
            "hook": "order-select",
            "hookInstance": str(uuid.uuid4()),
            "context": {
                "userId": "Practitioner/load",
                "patientId": "p1",
                "selections": ["ServiceRequest/sr1"],
                "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
            },
            "prefetch": {"patient": patient, "weight": empty, "egfr": empty, "pregnancy": empty},
        }
        with self.client.post(
            ORDER_SELECT,
            json=body,
            headers={"Authorization": f"Bearer {self._token()}"},
            name="cds-order-select",
            catch_response=True,
        ) as answer:
            if answer.status_code == 200 and not answer.json().get("cards"):
                answer.failure("order-select: no card")
