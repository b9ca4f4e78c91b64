"""From a decision to what CDS Hooks 2.0 answers: one card per draft order, and a
`systemActions` update of each ServiceRequest carrying the rating, the consultation
id and the rule-set version as extensions.

No value in the answer may be null, "", [] or {} (except "cards": []): every
optional field is left out when empty (`_clean`)."""

from __future__ import annotations

import copy
import html
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guidelines.models import Category, Procedure
from ordering.decision import DecisionOutcome
from ordering.ranking import avoidable_in_pregnancy, not_appropriate
from ordering.record import (
    ConsultationRecord,
    localised,
    priority_label,
    rated_procedure,
    rating_offerable,
)

PAMA_SYSTEM = "http://fhir.org/argonaut/CodeSystem/pama-rating"
# The Argonaut "CDS Hooks for PAMA" guide's extensions on ServiceRequest
# (github.com/argonautproject/cds-hooks-for-pama, docs/index.md, its table of
# "Argonaut FHIR extensions for PAMA" and its example responses). Written besides ours.
# pama-rating-qcdsm-consulted (a CMS G-code) is left out: this service has none.
ARGONAUT_RATING = "http://fhir.org/argonaut/Extension/pama-rating"
ARGONAUT_CONSULT_ID = "http://fhir.org/argonaut/Extension/pama-rating-consult-id"
ARGONAUT_AUC_APPLIED = "http://fhir.org/argonaut/Extension/pama-rating-auc-applied"
# Earlier versions of the same guide spell them .../StructureDefinition/<name> (its
# example responses) or http://fhir.org/argonaut/<name> (its table): read all three.
_ARGONAUT_BASES = (
    "http://fhir.org/argonaut/Extension/",
    "http://fhir.org/argonaut/StructureDefinition/",
    "http://fhir.org/argonaut/",
)
APPROPRIATE = "appropriate"
NOT_APPROPRIATE = "not-appropriate"
# The guide's code for "no rule"; an older sample sends "no-guidelines-apply": read both.
NO_CRITERIA_APPLY = "no-criteria-apply"
NO_RULE_CODES = frozenset({NO_CRITERIA_APPLY, "no-guidelines-apply"})
SUMMARY_MAX = 139
SLOTS_ON_CARD = 3
# Every ASCII punctuation character CommonMark lets a backslash escape that can start
# markup: emphasis, code, links and images, headings, lists, tables, autolinks (":").
_PLAIN_LOOKALIKES = str.maketrans("<>[]", "‹›()")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:])")


_BREAKS = re.compile(r"[ \t\r\n\f\v\u2028\u2029\x85]+")


def md_escape(value: Any) -> str:
    """Text from the rules, the catalogue, a PACS or an EHR, made inert inside the card's
    Markdown ``detail``: on one line (it cannot open a block), HTML escaped (no tag
    reaches an EHR that renders HTML) and every Markdown sign backslash-escaped (no
    link, image or emphasis)."""
    # Line breaks and runs of spaces fold to one space; a non-breaking space (French
    # typography before ":" ";" "?" "!") is kept.
    text = _BREAKS.sub(" ", str(value)).strip()
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def plain_text(value: Any) -> str:
    """Such text in a plain-text field (``summary``, labels): on one line, with no angle
    or square bracket, in case an EHR renders the field as HTML or Markdown anyway."""
    text = " ".join(str(value).split())
    return text.translate(_PLAIN_LOOKALIKES)


def extension_url(name: str) -> str:
    return f"{settings.FHIR_EXTENSION_BASE}/StructureDefinition/{name}"


def code_system_url(name: str) -> str:
    return f"{settings.FHIR_EXTENSION_BASE}/CodeSystem/{name}"


def override_reasons() -> list[dict[str, str]]:
    system = code_system_url("override-reason")
    return [
        {"system": system, "code": code, "display": display}
        for code, display in (
            ("clinical-context", _("Clinical context not captured by the guideline")),
            ("specialist-request", _("Requested by a specialist")),
            ("patient-preference", _("Patient preference")),
            ("prior-exam-insufficient", _("The prior exam is not sufficient")),
            ("other", _("Other reason")),
        )
    ]


@dataclass
class OrderRating:
    """The rating of one ordered exam, as written back on its ServiceRequest."""

    pama_code: str
    category: str = ""  # ours; "" when no rule applies
    score: int | None = None
    auc_url: str = ""  # the published guideline the rating applied, when it has a URL
    priority: str = ""  # the rule's: urgent, within_week, within_weeks; "" when no rule


def pama_code(category: str, score: int | None) -> str:
    if score is None:
        return NO_CRITERIA_APPLY
    if not_appropriate(category, score):
        return NOT_APPROPRIATE
    return APPROPRIATE


def pama_code_read(extension: dict[str, Any]) -> str | None:
    """The PAMA rating an extension carries, reading both spellings of "no rule"."""
    for coding in (extension.get("valueCodeableConcept") or {}).get("coding") or []:
        if coding.get("system") == PAMA_SYSTEM:
            code = coding.get("code")
            return NO_CRITERIA_APPLY if code in NO_RULE_CODES else code
    return None


@dataclass(frozen=True)
class RatingRead:
    """A rating found on a ServiceRequest an EHR sends back: ours or the Argonaut's."""

    pama_code: str | None
    consultation_id: uuid.UUID | None


def _argonaut_name(url: str) -> str | None:
    for base in _ARGONAUT_BASES:
        if url.startswith(base) and "/" not in url[len(base) :]:
            return url[len(base) :].strip()
    return None


def rating_read(resource: dict[str, Any]) -> RatingRead:
    """The PAMA code and our consultation id a ServiceRequest carries, from our own
    extensions or, when those were dropped on the way, from the Argonaut PAMA ones."""
    code: str | None = None
    consultation: uuid.UUID | None = None
    extensions = resource.get("extension") if isinstance(resource, dict) else None
    for ext in extensions if isinstance(extensions, list) else []:
        if not isinstance(ext, dict):
            continue
        url = str(ext.get("url") or "")
        name = _argonaut_name(url)
        if url == extension_url("appropriateness-rating") or name == "pama-rating":
            code = code or pama_code_read(ext)
        elif url == extension_url("consultation-id") or name == "pama-rating-consult-id":
            value = str(ext.get("valueUri") or "").removeprefix("urn:uuid:")
            try:
                consultation = consultation or uuid.UUID(value)
            except ValueError:
                continue
    return RatingRead(code, consultation)


def rating_extensions(
    rating: OrderRating, consultation_id: uuid.UUID, rule_set_version: int | None
) -> list[dict[str, Any]]:
    codings = [{"system": PAMA_SYSTEM, "code": rating.pama_code}]
    if rating.category and rating.score is not None:
        codings.append(
            {
                "system": code_system_url("rating-category"),
                "code": rating.category,
                "display": str(Category(rating.category).label),
            }
        )
    extensions: list[dict[str, Any]] = [
        {
            "url": extension_url("appropriateness-rating"),
            "valueCodeableConcept": {"coding": codings},
        }
    ]
    if rating.score is not None:
        extensions.append(
            {"url": extension_url("appropriateness-score"), "valueInteger": rating.score}
        )
    if rating.priority:
        # The Argonaut PAMA guide has no extension for how soon: ours, beside the rating.
        # ServiceRequest.priority is the orderer's own field, never overwritten.
        extensions.append(
            {
                "url": extension_url("recommended-priority"),
                "valueCoding": {
                    "system": code_system_url("priority"),
                    "code": rating.priority,
                    "display": priority_label(rating.priority),
                },
            }
        )
    extensions.append(
        {"url": extension_url("consultation-id"), "valueUri": f"urn:uuid:{consultation_id}"}
    )
    if rule_set_version is not None:
        extensions.append(
            {"url": extension_url("rule-set-version"), "valueString": str(rule_set_version)}
        )
    extensions += [
        {
            "url": ARGONAUT_RATING,
            "valueCodeableConcept": {"coding": [{"system": PAMA_SYSTEM, "code": rating.pama_code}]},
        },
        {"url": ARGONAUT_CONSULT_ID, "valueUri": f"urn:uuid:{consultation_id}"},
    ]
    if rating.auc_url:
        extensions.append({"url": ARGONAUT_AUC_APPLIED, "valueUri": rating.auc_url})
    return extensions


def _with_extensions(resource: dict[str, Any], extensions: list[dict[str, Any]]) -> dict[str, Any]:
    ours = settings.FHIR_EXTENSION_BASE
    updated = copy.deepcopy(resource)
    # Ours and any PAMA rating already on the order are replaced, never duplicated.
    kept = [
        e
        for e in updated.get("extension") or []
        if not str(e.get("url", "")).startswith(ours)
        and not (_argonaut_name(str(e.get("url", ""))) or "").startswith("pama-rating")
    ]
    updated["extension"] = kept + extensions
    return updated


def _clean(value: Any) -> Any:
    """Drop null, "", [] and {} recursively (the CDS Hooks rule for optional fields)."""
    if isinstance(value, dict):
        out = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [_clean(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value


def _label(record: dict[str, Any]) -> str:
    return localised(record, "label")


@dataclass
class CardPlan:
    """A card and what must be stored of it for feedback."""

    card: dict[str, Any]
    suggestions: dict[str, str] = field(default_factory=dict)


def _summary(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _slots_lines(outcome: DecisionOutcome, code: str) -> list[str]:
    lines = []
    for option in outcome.options.ranking.options:
        if option.slot is None or option.rated.procedure_code != code:
            continue
        slot = outcome.options.slot_for(option)
        if slot is None:
            continue
        # An exam longer than one slot takes a run: its end says how long it lasts.
        when = (
            formats.date_format(slot.start, "DATETIME_FORMAT")
            + "–"
            + formats.time_format(slot.end, "TIME_FORMAT")
        )
        where = f"{md_escape(slot.centre_name)}, {md_escape(slot.town)}"
        lines.append(f"- {when} — {where} ({slot.distance_km:.0f} km)")
        if len(lines) >= SLOTS_ON_CARD:
            break
    return lines


def _no_slot_lines(outcome: DecisionOutcome, code: str) -> list[str]:
    """Why there is no slot and what to do, as scheduling.no_slot words it."""
    reason = outcome.options.no_slot(code)
    if reason is None:
        return [_("No free slot found nearby.")]
    return [md_escape(reason.message()), *(f"- {md_escape(line)}" for line in reason.advice())]


def _priors_lines(outcome: DecisionOutcome) -> list[str]:
    record = outcome.consultation.outputs.get("priors", {})
    if record.get("status") == "unavailable":
        return [f"_{md_escape(record.get('reason') or _('prior exams unavailable'))}_"]
    studies = record.get("studies") or []
    if not studies:
        return [_("No prior imaging found in the PACS.")]
    return [
        "- "
        + md_escape(f"{s.get('date') or '?'} — {s.get('modality')} {s.get('description') or ''}")
        for s in studies[:5]
    ]


def _indicator(rating: dict[str, Any] | None) -> str:
    if rating is None:
        return "info"
    if not rating_offerable(rating):
        return "critical" if rating["category"] == Category.CONTRAINDICATED else "warning"
    if rating["redundancy"] or rating["warnings"] or rating["score"] < 7:
        return "warning"
    return "info"


def _rating_lines(rating: dict[str, Any]) -> list[str]:
    label = md_escape(_label(rating))
    scored = _("(score %(score)s/9, evidence %(evidence)s)") % {
        "score": rating["score"],
        "evidence": rating["evidence"],
    }
    lines = [
        f"**{label}** — {Category(rating['category']).label} {scored}",
        _("Priority: %(priority)s") % {"priority": priority_label(str(rating["priority"]))},
        "",
        md_escape(localised(rating, "rationale")),
    ]
    for finding in rating["contraindications"] + rating["warnings"]:
        lines.append(f"- ⚠ {md_escape(localised(finding, 'reason'))}")
    if rating["redundancy"]:
        lines.append(f"- ⚠ {md_escape(localised(rating['redundancy'], 'message'))}")
    return lines


def _understood_lines(record: ConsultationRecord) -> list[str]:
    """What was read from the order's words, in a prescriber's words: the situation and
    the facts used, or the nearest situations when none was sure."""
    reading = record.understanding
    if not reading:
        return []
    if not reading["understood"]:
        nearest = ", ".join(md_escape(localised(s, "label")) for s in reading["suggestions"][:3])
        line = _("The indication was not recognised with certainty in the order's reason.")
        if nearest:
            line += " " + _("Nearest situations: %(list)s.") % {"list": nearest}
        return ["", line]
    flags = record.red_flag_labels()
    parts = [md_escape(localised(reading["suggestions"][0], "label"))]
    days = reading["facts"]["duration_days"]
    if days:
        parts.append(ngettext("%(n)s day", "%(n)s days", days) % {"n": days})
    parts += [md_escape(flags.get(code, code)) for code in reading["red_flags_present"]]
    parts += [
        _("%(flag)s: absent") % {"flag": md_escape(flags.get(code, code))}
        for code in reading["red_flags_absent"]
    ]
    return ["", "**" + _("Understood from the order") + "**: " + " · ".join(parts)]


def _source(outcome: DecisionOutcome, rating: dict[str, Any] | None) -> dict[str, Any]:
    version = outcome.consultation.rule_set_version
    document = rating["source"]["document"] if rating else "imaging-cds"
    label = _("%(document)s — rule set v%(version)s") % {
        "document": plain_text(document),
        "version": version,
    }
    source: dict[str, Any] = {"label": label[:200]}
    if rating and rating["source"]["url"]:
        source["url"] = rating["source"]["url"]
    return source


def order_card(
    *,
    outcome: DecisionOutcome,
    order_resource: dict[str, Any],
    procedure: Procedure | None,
    exam_text: str,
    options_url: str,
    exam_problem: str = "",
    smart_url: str = "",
) -> tuple[CardPlan, OrderRating]:
    consultation = outcome.consultation
    record = ConsultationRecord(consultation)
    rating = record.rating(procedure.code) if procedure else None
    exam = plain_text((localised(procedure, "label") if procedure else exam_text) or _("this exam"))
    best = next(iter(record.bookable()), None)
    lines: list[str] = []
    if not outcome.decision.guideline_applies:
        summary = _("%(exam)s: no guideline applies to this indication") % {"exam": exam}
        reason = localised(consultation.outputs, "reason")
        lines.append(md_escape(reason))
    elif rating is None:
        summary = _("%(exam)s is not among the exams the guideline rates here") % {"exam": exam}
    else:
        summary = _("%(exam)s: %(category)s (%(score)s/9)") % {
            "exam": exam,
            "category": Category(rating["category"]).label,
            "score": rating["score"],
        }
        lines += _rating_lines(rating)
    if procedure is None:
        lines += [
            "",
            md_escape(exam_problem)
            if exam_problem
            else _("The exam ordered (“%(exam)s”) is not one the catalogue recognises.")
            % {"exam": md_escape(exam_text[:100]) or "?"},
        ]
    lines += _understood_lines(record)
    suggestions: dict[str, str] = {}
    card_suggestions: list[dict[str, Any]] = []
    ordered_is_poor = rating is None or _indicator(rating) in ("warning", "critical")
    if (
        outcome.decision.guideline_applies
        and best is not None
        and (procedure is None or best["procedure_code"] != procedure.code)
        and ordered_is_poor
        and (
            rating is None
            or best["score"] > rating["score"]
            or _spares_the_fetus(record, rating, best)
        )
    ):
        suggestion_id = str(uuid.uuid4())
        suggestions[suggestion_id] = best["procedure_code"]
        replaced = copy.deepcopy(order_resource)
        replaced["code"] = {
            "coding": [
                {
                    "system": code_system_url("procedure"),
                    "code": best["procedure_code"],
                    "display": best["label_en"],
                }
            ],
            "text": _label(best),
        }
        better = OrderRating(
            pama_code(best["category"], best["score"]),
            best["category"],
            best["score"],
            _auc_url(best),
            str(best.get("priority") or ""),
        )
        replaced = _with_extensions(
            replaced, rating_extensions(better, consultation.pk, consultation.rule_set_version)
        )
        label = _("Order %(exam)s instead (%(category)s)") % {
            "exam": plain_text(_label(best)),
            "category": Category(best["category"]).label,
        }
        card_suggestions.append(
            {
                "label": label[:200],
                "uuid": suggestion_id,
                "isRecommended": True,
                "actions": [{"type": "update", "description": label[:200], "resource": replaced}],
            }
        )
        lines += ["", _("**Indicated instead:** %(exam)s") % {"exam": md_escape(_label(best))}]
        best_lines = _rating_lines(best)
        lines += [best_lines[1], best_lines[3]]  # its priority and rationale
    shown_code = procedure.code if procedure and rating else (best or {}).get("procedure_code")
    if shown_code:
        slot_lines = _slots_lines(outcome, str(shown_code))
        lines += ["", "**" + _("First free slots") + "**"]
        lines += slot_lines or _no_slot_lines(outcome, str(shown_code))
    lines += ["", "**" + _("Prior exams") + "**", *_priors_lines(outcome)]
    indicator = _indicator(rating) if outcome.decision.guideline_applies else "info"
    card_id = str(uuid.uuid4())
    card: dict[str, Any] = {
        "uuid": card_id,
        "summary": _summary(str(summary)),
        "detail": "\n".join(str(line) for line in lines),
        "indicator": indicator,
        "source": _source(outcome, rating),
        "suggestions": card_suggestions,
        "links": card_links(options_url, smart_url, consultation.pk),
    }
    if card_suggestions:
        card["selectionBehavior"] = "at-most-one"
    if indicator != "info":
        card["overrideReasons"] = override_reasons()
    score = rating["score"] if rating else None
    order_rating = OrderRating(
        pama_code(rating["category"], score) if rating else NO_CRITERIA_APPLY,
        rating["category"] if rating else "",
        score,
        _auc_url(rating) if rating else "",
        str(rating.get("priority") or "") if rating else "",
    )
    return CardPlan(_clean(card), suggestions), order_rating


def _spares_the_fetus(
    record: ConsultationRecord, rating: dict[str, Any], best: dict[str, Any]
) -> bool:
    """Pregnancy: the ordered exam is ionising and the best one is a non-ionising exam
    rated at least as well (the ranking's rule), so it is worth suggesting instead."""
    return record.pregnant and avoidable_in_pregnancy(
        rated_procedure(rating), [rated_procedure(best)]
    )


def _auc_url(rating: dict[str, Any]) -> str:
    source = rating.get("source")
    url = source.get("url") if isinstance(source, dict) else None
    return str(url) if url else ""


def system_action(
    order_resource: dict[str, Any], rating: OrderRating, outcome: DecisionOutcome
) -> dict[str, Any]:
    consultation = outcome.consultation
    resource = _with_extensions(
        order_resource,
        rating_extensions(rating, consultation.pk, consultation.rule_set_version),
    )
    return _clean(
        {
            "type": "update",
            "description": _("Appropriateness rating: %(code)s") % {"code": rating.pama_code},
            "resource": resource,
        }
    )


def referral_card(
    outcome: DecisionOutcome, options_url: str, smart_url: str = ""
) -> dict[str, Any] | None:
    """The decision's "send to the emergency department" (ordering.decision.referral_needed)
    as its own critical card, so that no EHR shows it below a slot list."""
    referral = outcome.options.referral
    if referral is None:
        return None
    record = ConsultationRecord(outcome.consultation)
    rating = record.rating(referral.procedure_code)
    exam = plain_text(_label(rating)) if rating else referral.procedure_code
    summary = _("Urgent: no slot for %(exam)s — send the patient to the emergency department") % {
        "exam": exam
    }
    return _clean(
        {
            "uuid": str(uuid.uuid4()),
            "summary": _summary(str(summary)),
            "detail": md_escape(referral.message),
            "indicator": "critical",
            "source": _source(outcome, rating),
            "overrideReasons": override_reasons(),
            "links": card_links(options_url, smart_url, outcome.consultation.pk),
        }
    )


def message_card(summary: str, detail: str, indicator: str = "warning") -> dict[str, Any]:
    return _clean(
        {
            "uuid": str(uuid.uuid4()),
            "summary": _summary(summary),
            "detail": detail,
            "indicator": indicator,
            "source": {"label": "imaging-cds"},
        }
    )


def card_links(
    options_url: str, smart_url: str, consultation_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The options page; and, for an EHR registered for SMART, the ordering page
    launched with the EHR's patient (ordering.smart): its ``appContext`` names the
    decision, whose indication and red flags then fill the form."""
    links: list[dict[str, Any]] = [
        {"label": str(_("Options, centres and slots")), "url": options_url, "type": "absolute"}
    ]
    if smart_url:
        links.append(
            {
                "label": str(_("Order with this patient's record (EHR launch)")),
                "url": smart_url,
                "type": "smart",
                "appContext": str(consultation_id),
            }
        )
    return links


def smart_launch_url(request: Any, client: Any) -> str:
    """The SMART launch URL for this EHR client's cards, or "" if it has no client_id."""
    if not getattr(client, "smart_client_id", ""):
        return ""
    return str(request.build_absolute_uri(reverse("ordering:smart_launch")))


def options_url(request: Any, consultation_id: uuid.UUID) -> str:
    path = reverse("ordering:consultation", kwargs={"consultation_id": consultation_id})
    return str(request.build_absolute_uri(path))
