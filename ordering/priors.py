"""The prior-exam stage of the decision: which exams this patient already had.

``priors_lookup`` is the one entry point; the ordering page, the REST API and
CDS Hooks all call it. It asks every configured PACS at once within the time
budget (``PACS_TIMEOUT_SECONDS``), merges their answers, maps each study to a
catalogue procedure and estimates the dose of the last 12 months. It never
raises for a PACS fault: a PACS that is down, refuses us or is slow gives a
result whose status says so ("prior exams unavailable: <reason>"), never an
empty list that would read as "no prior exams".
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext

from guidelines.context import PriorExamFact
from guidelines.models import Procedure
from imaging_cds.audit import audit_record
from imaging_cds.pseudonym import pseudonymise
from ordering.pacs.nodes import PacsNode, configured_nodes
from ordering.pacs.query import Failure, NodeAnswer, StudyQuery, StudyRecord
from ordering.pacs.search import nodes_search
from ordering.prior_dose import DoseEstimate, DoseItem, dose_estimate
from ordering.prior_mapping import CatalogueProcedure, Mapping, prior_fact, study_map

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
# Characters that C-FIND would read as wildcards or a value separator.
_WILDCARDS = frozenset("*?\\")


class LookupStatus(StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    UNAVAILABLE = "unavailable"


def failure_text(failure: Failure | None, detail: str = "") -> str:
    """A node's failure as the prescriber reads it, in the current language."""
    texts = {
        Failure.UNREACHABLE: gettext("the PACS cannot be reached"),
        Failure.REJECTED: gettext("the PACS refused the connection (check the AE titles)"),
        Failure.TIMEOUT: gettext("the PACS did not answer in time"),
        Failure.ABORTED: gettext("the PACS broke off the query"),
        Failure.FAILURE_STATUS: gettext("the PACS reported an error (%(detail)s)"),
        Failure.INCOMPLETE: gettext("the PACS answer was incomplete"),
        Failure.HTTP_STATUS: gettext("the PACS reported an error (%(detail)s)"),
        Failure.BAD_ANSWER: gettext("the PACS answer could not be read"),
        Failure.TLS: gettext("the secure connection to the PACS failed"),
        Failure.ERROR: gettext("the PACS query failed"),
        Failure.CIRCUIT_OPEN: gettext(
            "the PACS failed moments ago (%(detail)s) and is not asked again for now"
        ),
    }
    if failure is None:
        return ""
    if failure is Failure.CIRCUIT_OPEN:
        # The detail is the earlier failure: say it in words too.
        earlier = failure_text(Failure(detail)) if detail in Failure._value2member_map_ else detail
        return texts[failure] % {"detail": earlier}
    return texts[failure] % {"detail": detail}


@dataclass(frozen=True)
class PriorStudy:
    record: StudyRecord
    modality: str
    # None when the study has no usable date: the engine cannot weigh it.
    fact: PriorExamFact | None
    dose_class: int | None


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ok: bool
    reason: str
    detail: str
    capped: bool
    studies: int
    elapsed_ms: float


@dataclass(frozen=True)
class PriorLookup:
    status: LookupStatus
    # "" when every PACS answered; otherwise what the page shows, translated.
    reason: str
    studies: tuple[PriorStudy, ...]
    capped: bool
    nodes: tuple[NodeStatus, ...]
    # None when no PACS answered: the dose is then unknown, not zero.
    dose: DoseEstimate | None
    from_cache: bool
    elapsed_ms: float

    @property
    def facts(self) -> tuple[PriorExamFact, ...]:
        """What PatientContext.prior_exams takes."""
        return tuple(study.fact for study in self.studies if study.fact is not None)

    @property
    def available(self) -> bool:
        return self.status is not LookupStatus.UNAVAILABLE


def _cache_key(
    patient_id: str, issuer: str | None, query: StudyQuery, nodes: list[PacsNode]
) -> str:
    # The patient identifier only ever appears keyed-hashed (imaging_cds.pseudonym).
    patient = pseudonymise(f"{issuer or ''}|{patient_id}")
    where = hashlib.sha256(repr(sorted(repr(node) for node in nodes)).encode()).hexdigest()[:12]
    modalities = "+".join(sorted(query.modalities)) or "all"
    return f"pacs-priors:v{CACHE_VERSION}:{patient}:{query.date_range()}:{modalities}:{where}"


class _CacheDown(Exception):
    pass


def _cache_get(key: str) -> list[NodeAnswer] | None:
    try:
        value = cache.get(key)
    except Exception as exc:  # a cache outage must cost a fresh query, not the answer
        logger.warning("prior-exam cache unreadable: %s", exc.__class__.__name__)
        raise _CacheDown from exc
    return value if isinstance(value, list) else None


def _cache_set(key: str, answers: list[NodeAnswer]) -> None:
    try:
        cache.set(key, answers, timeout=settings.PACS_CACHE_SECONDS)
    except Exception as exc:  # same reasoning as _cache_get
        logger.warning("prior-exam cache not written: %s", exc.__class__.__name__)


def _richer(first: StudyRecord, second: StudyRecord) -> StudyRecord:
    def filled(record: StudyRecord) -> int:
        return sum(
            bool(value)
            for value in (
                record.study_date,
                record.description,
                record.modalities,
                record.accession_number,
                record.institution,
                record.body_part,
            )
        )

    return second if filled(second) > filled(first) else first


def merge_studies(answers: list[NodeAnswer]) -> list[StudyRecord]:
    """One record per StudyInstanceUID, newest first, undated last."""
    merged: dict[str, StudyRecord] = {}
    for answer in answers:
        for record in answer.studies:
            known = merged.get(record.study_uid)
            merged[record.study_uid] = record if known is None else _richer(known, record)
    return sorted(
        merged.values(),
        key=lambda rec: (rec.study_date is not None, rec.study_date or date.min),
        reverse=True,
    )


def _catalogue() -> list[CatalogueProcedure]:
    return [
        CatalogueProcedure(code, modality, region, contrast, dose_class)
        for code, modality, region, contrast, dose_class in Procedure.objects.order_by(
            "code"
        ).values_list("code", "modality", "body_region", "contrast", "dose_class")
    ]


def _node_status(answer: NodeAnswer) -> NodeStatus:
    return NodeStatus(
        name=answer.node,
        ok=answer.ok,
        reason=failure_text(answer.failure, answer.detail),
        detail=answer.detail,
        capped=answer.capped,
        studies=len(answer.studies),
        elapsed_ms=round(answer.elapsed_ms, 1),
    )


def _overall(nodes: list[NodeStatus]) -> tuple[LookupStatus, str]:
    failed = [node for node in nodes if not node.ok]
    if not failed:
        return LookupStatus.OK, ""
    reasons = "; ".join(
        f"{node.name}: {node.reason}" if len(nodes) > 1 else node.reason for node in failed
    )
    if len(failed) == len(nodes):
        return LookupStatus.UNAVAILABLE, gettext("prior exams unavailable: %(reason)s") % {
            "reason": reasons
        }
    return LookupStatus.PARTIAL, gettext("prior exams partly unavailable: %(reason)s") % {
        "reason": reasons
    }


def _unavailable(reason: str, started: float) -> PriorLookup:
    return PriorLookup(
        status=LookupStatus.UNAVAILABLE,
        reason=gettext("prior exams unavailable: %(reason)s") % {"reason": reason},
        studies=(),
        capped=False,
        nodes=(),
        dose=None,
        from_cache=False,
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
    )


def priors_lookup(
    *,
    patient_id: str,
    issuer: str | None,
    today: date,
    force_refresh: bool = False,
    modalities: frozenset[str] = frozenset(),
) -> PriorLookup:
    """The patient's prior exams from every configured PACS, within the time budget.

    ``issuer`` is the IssuerOfPatientID (the INS's OID where the INS is known).
    ``force_refresh`` skips the cache (an order being signed must see today's PACS).
    """
    started = time.monotonic()
    deadline = started + float(settings.PACS_TIMEOUT_SECONDS)
    patient_id = patient_id.strip()
    if not patient_id:
        return _unavailable(gettext("no identifier"), started)
    if not patient_id or _WILDCARDS & set(patient_id) or (issuer and _WILDCARDS & set(issuer)):
        return _unavailable(gettext("the patient identifier cannot be searched"), started)
    nodes = configured_nodes()
    if not nodes:
        return _unavailable(gettext("no PACS is configured"), started)
    query = StudyQuery(
        patient_id=patient_id,
        issuer=issuer or None,
        date_from=today - timedelta(days=int(settings.PACS_LOOKBACK_DAYS)),
        date_to=today,
        modalities=frozenset(modalities),
    )
    use_cache = int(settings.PACS_CACHE_SECONDS) > 0
    key = _cache_key(patient_id, issuer, query, nodes)
    answers: list[NodeAnswer] | None = None
    if use_cache and not force_refresh:
        try:
            answers = _cache_get(key)
        except _CacheDown:
            # Writing would wait out the same outage again, past the budget.
            use_cache = False
    from_cache = answers is not None
    if answers is None:
        answers = nodes_search(nodes, query, deadline=deadline)
        # Only a complete answer is worth keeping: a failure must be retried next time.
        if use_cache and all(answer.ok for answer in answers):
            _cache_set(key, answers)
    result = _assemble(answers, today=today, from_cache=from_cache, started=started)
    logger.info(
        "prior lookup %s: %s, %d studies, %.0f ms%s",
        pseudonymise(patient_id)[:12],
        result.status,
        len(result.studies),
        result.elapsed_ms,
        " (cache)" if from_cache else "",
    )
    return result


def _assemble(
    answers: list[NodeAnswer], *, today: date, from_cache: bool, started: float
) -> PriorLookup:
    nodes = [_node_status(answer) for answer in answers]
    status, reason = _overall(nodes)
    records = merge_studies([answer for answer in answers if answer.ok])
    catalogue = _catalogue() if records else []
    studies = []
    for record in records:
        mapping: Mapping = study_map(record, catalogue)
        studies.append(
            PriorStudy(
                record=record,
                modality=mapping.modality,
                fact=prior_fact(record, mapping),
                dose_class=mapping.procedure.dose_class if mapping.procedure else None,
            )
        )
    dose = None
    if status is not LookupStatus.UNAVAILABLE:
        dose = dose_estimate(
            [
                DoseItem(
                    study.record.study_uid,
                    study.record.study_date,
                    study.modality,
                    study.record.description,
                    study.dose_class,
                )
                for study in studies
            ],
            today=today,
            all_sources_answered=status is LookupStatus.OK,
        )
    return PriorLookup(
        status=status,
        reason=reason,
        studies=tuple(studies),
        capped=any(answer.capped for answer in answers),
        nodes=tuple(nodes),
        dose=dose,
        from_cache=from_cache,
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
    )


def priors_audit(
    lookup: PriorLookup, *, patient_ref: str, user: Any = None, request: Any = None
) -> None:
    """A prior-exam lookup reads the patient's imaging history: it goes in the trail."""
    audit_record(
        action="priors.lookup",
        request=request,
        user=user,
        object_type="priors",
        patient_ref=patient_ref,
        detail={
            "status": str(lookup.status),
            "studies": len(lookup.studies),
            "from_cache": lookup.from_cache,
        },
    )
