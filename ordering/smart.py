"""SMART on FHIR app launch from the EHR (the "EHR launch" of SMART App Launch 2).

A CDS card carries a link of type ``smart`` when its EHR client has a
``smart_client_id``. The EHR opens ``/smart/launch/?iss=…&launch=…``; we read the
FHIR server's ``.well-known/smart-configuration``, send the browser to its
authorization endpoint (authorization code with PKCE S256, ``state`` kept in the
session), and on the way back exchange the code at the token endpoint. The token
response names the patient in context (and echoes the card's ``appContext``: the
consultation the card was about); we read that Patient and its observations with
the same reader as CDS Hooks (ordering.cds.hook_input.hook_patient), so the form
is filled from the EHR and nobody types the patient again.

Only FHIR servers an active EHR client lists are ever contacted, through
imaging_cds.outbound, and the access token goes nowhere else. Nothing of the
patient is logged or put in a URL; the identity lives in the session until the
prescriber's next decision, as when it is typed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError as PydanticValidationError

from imaging_cds.outbound import Allowance, OutboundRefused, body_limited, outbound_check
from ordering.cds.hook_input import (
    FhirAccess,
    HookPatient,
    HookRequestError,
    PatientDataMissing,
    hook_patient,
)
from ordering.models import EhrClient

SESSION_KEY = "ordering.smart_launches"
# The session entry the new-order form is filled from (ordering.views.order_new).
PREFILL_KEY = "ordering.smart_prefill"
# What the app asks for: the launch context, who the user is, and read access to
# the patient's record (the Patient, and Observations for weight, eGFR, pregnancy).
SCOPE = "launch openid fhirUser patient/Patient.read patient/Observation.read"
# A launch the prescriber does not finish within this many seconds is forgotten.
LAUNCH_SECONDS = 600
# Launches kept per session at once (tabs opened from several cards).
LAUNCHES_KEPT = 5
# Bytes read at most from the SMART configuration or the token endpoint.
ANSWER_MAX_BYTES = 64 * 1024


class SmartLaunchError(Exception):
    """The launch cannot go on; the message says why, in words fit for the user."""


@dataclass(frozen=True)
class SmartLaunched:
    """What the EHR gave: the patient's facts, names for the order, and the card's
    appContext ("" when the app was launched from elsewhere in the EHR)."""

    patient: HookPatient
    birth_name: str
    given_names: str
    app_context: str


def _client_for(iss: str) -> EhrClient:
    """The active EHR client that lists this FHIR server and is registered for SMART."""
    for client in EhrClient.objects.filter(active=True).exclude(smart_client_id=""):
        bases = tuple(str(b) for b in client.fhir_servers if isinstance(b, str))
        try:
            outbound_check(iss, Allowance(bases=bases))
        except OutboundRefused:
            continue
        return client
    raise SmartLaunchError(
        _("This EHR's FHIR server is not registered for launching the ordering page.")
    )


def _endpoint_check(url: str, iss: str) -> None:
    """An endpoint the configuration names: on the FHIR server's own origin, or a
    public https address (imaging_cds.outbound decides)."""
    parts = urlsplit(iss)
    origin = f"{parts.scheme}://{parts.netloc}/"
    try:
        outbound_check(url, Allowance(bases=(origin,)))
    except OutboundRefused:
        try:
            outbound_check(url, Allowance())
        except OutboundRefused as exc:
            raise SmartLaunchError(
                _("The EHR's authorization server cannot be reached: %(why)s") % {"why": exc}
            ) from None


def _fetch_json(method: str, url: str, failure: str, **kwargs: Any) -> dict[str, Any]:
    """One JSON object from the EHR (timeout, no redirect, size cap). Any failure raises
    SmartLaunchError with ``failure``, a message whose %(why)s says what went wrong."""
    try:
        response = requests.request(
            method,
            url,
            headers={"Accept": "application/json"},
            timeout=float(settings.CDS_FHIR_TIMEOUT_SECONDS),
            allow_redirects=False,
            stream=True,
            **kwargs,
        )
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        value = json.loads(body_limited(response, ANSWER_MAX_BYTES))
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value
    except (requests.RequestException, ValueError) as exc:
        why = exc.__class__.__name__ if isinstance(exc, requests.RequestException) else str(exc)
        raise SmartLaunchError(failure % {"why": why}) from None


def _configuration(iss: str) -> dict[str, Any]:
    config = _fetch_json(
        "GET",
        f"{iss.rstrip('/')}/.well-known/smart-configuration",
        _("The EHR's SMART configuration cannot be read (%(why)s)."),
    )
    for name in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(config.get(name), str):
            raise SmartLaunchError(
                _("The EHR's SMART configuration has no %(name)s.") % {"name": name}
            )
    return config


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def smart_authorize_url(
    *, iss: str, launch: str, redirect_uri: str, session: Any, now: float | None = None
) -> str:
    """Where to send the browser to start the launch; the launch's secrets stay in
    the session under a fresh ``state``."""
    if not iss or not launch:
        raise SmartLaunchError(_("The EHR did not send the launch parameters (iss, launch)."))
    client = _client_for(iss)
    config = _configuration(iss)
    _endpoint_check(config["authorization_endpoint"], iss)
    _endpoint_check(config["token_endpoint"], iss)
    now = time.time() if now is None else now
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    launches = {
        key: value
        for key, value in (session.get(SESSION_KEY) or {}).items()
        if now - float(value.get("at", 0)) < LAUNCH_SECONDS
    }
    launches[state] = {
        "at": now,
        "iss": iss,
        "client_id": client.smart_client_id,
        "token_endpoint": config["token_endpoint"],
        "verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    session[SESSION_KEY] = dict(
        sorted(launches.items(), key=lambda item: item[1]["at"])[-LAUNCHES_KEPT:]
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.smart_client_id,
            "redirect_uri": redirect_uri,
            "launch": launch,
            "scope": SCOPE,
            "state": state,
            "aud": iss,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in config["authorization_endpoint"] else "?"
    return f"{config['authorization_endpoint']}{separator}{query}"


def _token(launch: dict[str, Any], code: str) -> dict[str, Any]:
    token = _fetch_json(
        "POST",
        launch["token_endpoint"],
        _("The EHR refused the launch at its token endpoint (%(why)s)."),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": launch["redirect_uri"],
            "client_id": launch["client_id"],
            "code_verifier": launch["verifier"],
        },
    )
    if not isinstance(token.get("access_token"), str):
        raise SmartLaunchError(_("The EHR's token answer has no access token."))
    if not isinstance(token.get("patient"), str) or not token["patient"]:
        raise SmartLaunchError(_("The EHR launched the page without a patient in context."))
    return token


def _names(patient_json: dict[str, Any]) -> tuple[str, str]:
    """Birth name and given names: the official name (INS traits), else the first."""
    try:
        patient = Patient.model_validate(patient_json)
    except (PydanticValidationError, ValueError):
        return "", ""
    names = patient.name or []
    official = next((n for n in names if n.use == "official"), names[0] if names else None)
    if official is None:
        return "", ""
    return str(official.family or ""), " ".join(str(g) for g in official.given or [])


def smart_launch_finish(*, state: str, code: str, error: str, session: Any) -> SmartLaunched:
    """Exchange the code and read the patient in context. Raises SmartLaunchError."""
    launches = dict(session.get(SESSION_KEY) or {})
    launch = launches.pop(state, None) if state else None
    session[SESSION_KEY] = launches
    if launch is None or time.time() - float(launch.get("at", 0)) >= LAUNCH_SECONDS:
        raise SmartLaunchError(
            _("This launch is unknown or has expired: open the page again from the EHR.")
        )
    if error or not code:
        raise SmartLaunchError(
            _("The EHR did not authorise the launch (%(error)s).")
            % {"error": (error or "no code")[:80]}
        )
    token = _token(launch, code)
    patient_id = str(token["patient"])
    fhir = FhirAccess(
        launch["iss"], str(token["access_token"]), float(settings.CDS_FHIR_TIMEOUT_SECONDS)
    )
    patient_json = fhir.read(f"Patient/{quote(patient_id, safe='')}")
    if patient_json is None:
        raise SmartLaunchError(_("The patient in context cannot be read from the EHR."))
    try:
        patient = hook_patient({"patient": patient_json}, {"patientId": patient_id}, fhir)
    except (HookRequestError, PatientDataMissing) as exc:
        raise SmartLaunchError(
            _("The EHR's Patient cannot be used: %(why)s") % {"why": exc}
        ) from None
    birth_name, given_names = _names(patient_json)
    context = token.get("appContext")
    return SmartLaunched(
        patient=patient,
        birth_name=birth_name,
        given_names=given_names,
        app_context=str(context)[:100] if isinstance(context, str) else "",
    )
