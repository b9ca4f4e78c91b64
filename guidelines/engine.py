"""The appropriateness engine: (indication, patient context, compiled rule set) ->
one rating per candidate procedure.

`evaluate` is pure and deterministic: it reads only its arguments (the patient
context carries its own `today`) and never touches the database. The compiled
rule set is an in-memory index by indication, built once per published version
(`rule_set_compile`, `published_rule_set_compiled`). The semantics are those of
guidelines/data/rulepack/FORMAT.md: the most specific matching rule wins (ties:
the first in file order), then the procedure-level safety checks apply.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from guidelines.conditions import Condition, condition_matches, prior_exam_within
from guidelines.context import PatientContext, PriorExamFact
from guidelines.models import CATEGORY_SCORE, Category, Contrast, Intention
from imaging_cds.vocab import IONISING_MODALITIES, Modality

if TYPE_CHECKING:
    from guidelines.models import RuleSet

EGFR_CONTRAST_THRESHOLD = 30.0
ADULT_AGE = 18


# --- The compiled rule set ---------------------------------------------------------


@dataclass(frozen=True)
class ProcedureInfo:
    code: str
    label_fr: str
    label_en: str
    modality: str
    contrast: str
    dose_class: int
    body_region: str = ""

    @property
    def is_ionising(self) -> bool:
        return self.modality in IONISING_MODALITIES


@dataclass(frozen=True)
class RedFlagWords:
    """What a prescriber writes for one red flag of an indication.

    `words` say the flag is there ("fièvre", "AEG"; a negation before one of them,
    "sans fièvre", says it is not); `absent_words` say by themselves that it is not
    ("apyrétique"). Both in French and English, as written in the rule pack: the
    matcher folds case and accents."""

    code: str
    label_fr: str
    label_en: str
    words: tuple[str, ...] = ()
    absent_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndicationInfo:
    code: str
    area: str
    label_fr: str
    label_en: str
    # What a prescriber writes for the situation: synonyms, abbreviations, lay terms.
    synonyms: tuple[str, ...] = ()
    icd10_codes: tuple[str, ...] = ()
    snomed_codes: tuple[str, ...] = ()
    red_flags: frozenset[str] = frozenset()
    # The red flags again, in file order, with their words.
    red_flag_words: tuple[RedFlagWords, ...] = ()
    # (min, max) days the complaint has lasted, when the definition depends on it;
    # a bound is None when the pack gives none. See `duration_fits`.
    duration_days: tuple[int | None, int | None] | None = None

    def duration_fits(self, days: int) -> bool:
        """Whether a complaint lasting `days` fits the indication's definition.

        The range is half-open, min <= days < max, so that "under 3 months"
        ({max: 90}) and "beyond 3 months" ({min: 90}) never both fit. True when
        the indication does not depend on the duration."""
        if self.duration_days is None:
            return True
        low, high = self.duration_days
        return (low is None or days >= low) and (high is None or days < high)


@dataclass(frozen=True)
class Source:
    document: str
    section: str = ""
    year: int | None = None
    url: str = ""


@dataclass(frozen=True)
class CompiledRule:
    rule_id: int | None
    indication_code: str
    procedure: ProcedureInfo
    conditions: tuple[Condition, ...]
    category: str
    evidence: str
    intention: str
    priority: str
    rationale_fr: str
    rationale_en: str
    source: Source
    repeat_interval_days: int | None = None
    position: int = 0

    @property
    def specificity(self) -> int:
        return len(self.conditions)


@dataclass(frozen=True)
class CandidateProcedure:
    """One (indication, procedure) pair and its rules, most specific first."""

    procedure: ProcedureInfo
    rules: tuple[CompiledRule, ...]


@dataclass(frozen=True)
class IndicationEntry:
    indication: IndicationInfo
    candidates: tuple[CandidateProcedure, ...]


@dataclass(frozen=True)
class CompiledRuleSet:
    version: int
    status: str
    entries: dict[str, IndicationEntry]
    rule_count: int
    _resolver: list[object] = field(default_factory=list, compare=False, repr=False)
    _understanding: list[object] = field(default_factory=list, compare=False, repr=False)

    def indication(self, code: str) -> IndicationInfo | None:
        entry = self.entries.get(code)
        return entry.indication if entry else None


def rule_set_build(
    *,
    version: int,
    status: str,
    indications: Iterable[IndicationInfo],
    rules: Iterable[CompiledRule],
) -> CompiledRuleSet:
    """Index rules by indication, then by procedure, most specific rule first.

    Pure: used by `rule_set_compile` on database rows and by the benchmark on
    synthetic rules."""
    by_indication: dict[str, dict[str, list[CompiledRule]]] = {}
    procedures: dict[str, ProcedureInfo] = {}
    count = 0
    for rule in rules:
        pairs = by_indication.setdefault(rule.indication_code, {})
        pairs.setdefault(rule.procedure.code, []).append(rule)
        procedures[rule.procedure.code] = rule.procedure
        count += 1
    entries: dict[str, IndicationEntry] = {}
    for info in indications:
        pairs = by_indication.get(info.code, {})
        candidates = tuple(
            CandidateProcedure(
                procedure=procedures[code],
                # Sorting is stable: equal specificity keeps file order (position).
                rules=tuple(
                    sorted(
                        sorted(pair_rules, key=lambda r: r.position),
                        key=lambda r: -r.specificity,
                    )
                ),
            )
            for code, pair_rules in sorted(pairs.items())
        )
        entries[info.code] = IndicationEntry(indication=info, candidates=candidates)
    return CompiledRuleSet(version=version, status=status, entries=entries, rule_count=count)


def rule_set_compile(rule_set: RuleSet) -> CompiledRuleSet:
    """Read a rule set from the database once and index it.

    Every indication of the catalogue is in the index, with or without rules, so
    that an indication with no rule yields an explicit "no guideline applies"."""
    from guidelines.conditions import conditions_parse
    from guidelines.models import Indication, Rule

    indications = {row.code: indication_info(row) for row in Indication.objects.order_by("code")}
    compiled: list[CompiledRule] = []
    for rule in Rule.objects.filter(rule_set=rule_set).select_related("indication", "procedure"):
        info = indications[rule.indication.code]
        conditions, errors = conditions_parse(rule.conditions, red_flag_codes=info.red_flags)
        if errors:
            # Rules are validated when written; an invalid one here is a bug, not data.
            raise ValueError(f"rule {rule.pk} has invalid conditions: {errors}")
        procedure = rule.procedure
        compiled.append(
            CompiledRule(
                rule_id=rule.pk,
                indication_code=info.code,
                procedure=ProcedureInfo(
                    code=procedure.code,
                    label_fr=procedure.label_fr,
                    label_en=procedure.label_en,
                    modality=procedure.modality,
                    contrast=procedure.contrast,
                    dose_class=procedure.dose_class,
                    body_region=procedure.body_region,
                ),
                conditions=conditions,
                category=rule.category,
                evidence=rule.evidence,
                intention=rule.intention,
                priority=rule.priority,
                rationale_fr=rule.rationale_fr,
                rationale_en=rule.rationale_en,
                source=Source(
                    document=rule.source_document,
                    section=rule.source_section,
                    year=rule.source_year,
                    url=rule.source_url,
                ),
                repeat_interval_days=rule.repeat_interval_days,
                position=rule.position,
            )
        )
    return rule_set_build(
        version=rule_set.version,
        status=rule_set.status,
        indications=indications.values(),
        rules=compiled,
    )


def indication_info(row: object) -> IndicationInfo:
    from guidelines.models import Indication

    assert isinstance(row, Indication)
    return IndicationInfo(
        code=row.code,
        area=row.area,
        label_fr=row.label_fr,
        label_en=row.label_en,
        synonyms=tuple(row.synonyms or ()),
        icd10_codes=tuple(row.icd10_codes or ()),
        snomed_codes=tuple(row.snomed_codes or ()),
        red_flags=frozenset(flag["code"] for flag in row.red_flags or ()),
        red_flag_words=tuple(
            RedFlagWords(
                code=flag["code"],
                label_fr=flag["label_fr"],
                label_en=flag["label_en"],
                words=tuple(flag.get("words") or ()),
                absent_words=tuple(flag.get("absent_words") or ()),
            )
            for flag in row.red_flags or ()
        ),
        duration_days=(
            (row.duration_days.get("min"), row.duration_days.get("max"))
            if row.duration_days
            else None
        ),
    )


class NoPublishedRuleSet(LookupError):
    pass


_cache: dict[tuple[int, int], CompiledRuleSet] = {}
_cache_lock = threading.Lock()


def rule_set_compiled(rule_set: RuleSet) -> CompiledRuleSet:
    """Compiled once per process for a published or archived set (they never change);
    a draft is compiled afresh, since an editor may have just changed it."""
    if rule_set.is_draft:
        return rule_set_compile(rule_set)
    key = (rule_set.pk, rule_set.version)
    compiled = _cache.get(key)
    if compiled is None:
        compiled = rule_set_compile(rule_set)
        with _cache_lock:
            _cache[key] = compiled
    return compiled


def published_rule_set_compiled() -> CompiledRuleSet:
    """The rule set in force, compiled (one small query, then the process cache)."""
    from guidelines.models import RuleSet, RuleSetStatus

    rule_set = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    if rule_set is None:
        raise NoPublishedRuleSet("no rule set is published")
    return rule_set_compiled(rule_set)


# --- The decision -------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A contraindication or a warning, with its reason in both languages."""

    code: str
    reason_fr: str
    reason_en: str


@dataclass(frozen=True)
class Redundancy:
    prior: PriorExamFact
    days_ago: int
    interval_days: int

    @property
    def message_en(self) -> str:
        what = self.prior.description or self.prior.procedure_code or self.prior.modality
        return f"redundant: {what} {self.days_ago} days ago"

    @property
    def message_fr(self) -> str:
        what = self.prior.description or self.prior.procedure_code or self.prior.modality
        return f"redondant : {what} il y a {self.days_ago} jours"


@dataclass(frozen=True)
class Rating:
    procedure: ProcedureInfo
    category: str  # after the safety checks
    score: int  # 1–9, from the category
    rule_category: str  # what the rule said, before the safety checks
    evidence: str
    intention: str
    priority: str
    rationale_fr: str
    rationale_en: str
    source: Source
    rule_id: int | None
    matched_conditions: tuple[str, ...]
    contraindications: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    redundancy: Redundancy | None = None
    # The rule's own interval: how recent a prior (or a signed order) of this exam
    # makes a new one a repeat.
    repeat_interval_days: int | None = None

    @property
    def procedure_code(self) -> str:
        return self.procedure.code

    @property
    def is_redundant(self) -> bool:
        return self.redundancy is not None


@dataclass(frozen=True)
class Decision:
    indication_code: str
    rule_set_version: int
    status: Literal["rated", "no_guideline"]
    ratings: tuple[Rating, ...] = ()
    reason_fr: str = ""
    reason_en: str = ""

    @property
    def guideline_applies(self) -> bool:
        return self.status == "rated"

    def rating(self, procedure_code: str) -> Rating | None:
        return next((r for r in self.ratings if r.procedure.code == procedure_code), None)


def _winning_rule(
    candidate: CandidateProcedure, context: PatientContext, red_flags: frozenset[str]
) -> CompiledRule | None:
    for rule in candidate.rules:  # most specific first, then file order
        if all(
            condition_matches(
                condition,
                context,
                indication_red_flags=red_flags,
                procedure_code=candidate.procedure.code,
            )
            for condition in rule.conditions
        ):
            return rule
    return None


def _pregnancy_warning(rule: CompiledRule) -> Finding:
    if any(c.key == "pregnancy" for c in rule.conditions):
        return Finding(
            "ionising-in-pregnancy",
            "Examen irradiant chez une femme enceinte : la recommandation l'admet pendant "
            "la grossesse ; dose aussi basse que possible, à discuter avec le radiologue.",
            "Ionising exam in pregnancy: the guidance allows it in pregnancy; keep the dose "
            "as low as possible and discuss it with the radiologist.",
        )
    return Finding(
        "ionising-in-pregnancy",
        "Examen irradiant chez une femme enceinte : à justifier (bénéfice attendu pour la "
        "mère), dose aussi basse que possible, avis du radiologue ; préférer un examen non "
        "irradiant quand il répond à la question.",
        "Ionising exam in pregnancy: justify it (expected benefit for the mother), keep the "
        "dose as low as possible and ask the radiologist's opinion; prefer a non-ionising "
        "exam when it answers the question.",
    )


def _safety_checks(
    rule: CompiledRule, procedure: ProcedureInfo, context: PatientContext
) -> tuple[str, list[Finding], list[Finding]]:
    """FORMAT.md's table, applied whatever the rule says."""
    category = rule.category
    contraindications: list[Finding] = []
    warnings: list[Finding] = []
    if procedure.modality == Modality.MR and context.mri_unsafe_implant:
        category = Category.CONTRAINDICATED
        contraindications.append(
            Finding(
                "mri-unsafe-implant",
                "Implant ou dispositif incompatible avec l'IRM.",
                "MRI-unsafe implant or device.",
            )
        )
    # An ionising exam is not forbidden in pregnancy: it must be justified and done at the
    # lowest dose. Only a rule written for pregnancy (from a source that says so) may make
    # it contraindicated; otherwise the rule's category stands.
    pregnant = procedure.is_ionising and context.pregnancy == "yes"
    if pregnant and category != Category.CONTRAINDICATED:
        warnings.append(_pregnancy_warning(rule))
    low_egfr = context.egfr is not None and context.egfr < EGFR_CONTRAST_THRESHOLD
    if procedure.contrast == Contrast.IODINATED and low_egfr:
        warnings.append(
            Finding(
                "iodinated-low-egfr",
                f"Produit de contraste iodé et DFG < {EGFR_CONTRAST_THRESHOLD:.0f} : vérifier "
                "la date du DFG ; un examen sans injection, s'il est aussi bien évalué, est "
                "proposé en premier ; le signaler au radiologue (figure sur l'ordonnance).",
                f"Iodinated contrast with eGFR < {EGFR_CONTRAST_THRESHOLD:.0f}: check the date "
                "of the eGFR; an exam without contrast, if rated as well, is offered first; tell "
                "the radiologist (it is on the order).",
            )
        )
    if procedure.contrast == Contrast.GADOLINIUM and low_egfr:
        warnings.append(
            Finding(
                "gadolinium-low-egfr",
                f"Gadolinium et DFG < {EGFR_CONTRAST_THRESHOLD:.0f} : vérifier la date du "
                "DFG ; un examen sans injection, s'il est aussi bien évalué, est proposé en "
                "premier ; le signaler au radiologue (figure sur l'ordonnance).",
                f"Gadolinium with eGFR < {EGFR_CONTRAST_THRESHOLD:.0f}: check the date of the "
                "eGFR; an exam without contrast, if rated as well, is offered first; tell the "
                "radiologist (it is on the order).",
            )
        )
    if procedure.contrast != Contrast.NONE and context.contrast_allergy:
        warnings.append(
            Finding(
                "contrast-allergy",
                "Antécédent d'allergie aux produits de contraste : un examen sans injection, "
                "s'il est aussi bien évalué, est proposé en premier ; le signaler au "
                "radiologue (figure sur l'ordonnance).",
                "History of contrast allergy: an exam without contrast, if rated as "
                "well, is offered first; tell the radiologist (it is on the order).",
            )
        )
    if procedure.is_ionising and context.age_years < ADULT_AGE:
        warnings.append(
            Finding(
                "paediatric-dose",
                "Examen irradiant chez un enfant : adapter la dose.",
                "Ionising exam in a child: adapt the dose.",
            )
        )
    return category, contraindications, warnings


def _redundancy(rule: CompiledRule, context: PatientContext) -> Redundancy | None:
    if not rule.repeat_interval_days:
        return None
    prior = prior_exam_within(context, rule.procedure.code, rule.repeat_interval_days)
    if prior is None:
        return None
    return Redundancy(
        prior=prior,
        days_ago=(context.today - prior.performed_on).days,
        interval_days=rule.repeat_interval_days,
    )


def _rate(rule: CompiledRule, context: PatientContext) -> Rating:
    procedure = rule.procedure
    category, contraindications, warnings = _safety_checks(rule, procedure, context)
    return Rating(
        procedure=procedure,
        category=category,
        score=CATEGORY_SCORE[category],
        rule_category=rule.category,
        evidence=rule.evidence,
        intention=rule.intention,
        priority=rule.priority,
        rationale_fr=rule.rationale_fr,
        rationale_en=rule.rationale_en,
        source=rule.source,
        rule_id=rule.rule_id,
        matched_conditions=tuple(c.describe() for c in rule.conditions),
        contraindications=tuple(contraindications),
        warnings=tuple(warnings),
        redundancy=_redundancy(rule, context),
        repeat_interval_days=rule.repeat_interval_days,
    )


def _order(rating: Rating, pregnant: bool) -> tuple[int, int, int, int, str]:
    return (
        -rating.score,
        # In pregnancy a non-ionising exam of at least as good a category comes first,
        # whatever the intention the rule gives it (FORMAT.md, safety checks).
        1 if pregnant and rating.procedure.is_ionising else 0,
        0 if rating.intention == Intention.FIRST_LINE else 1,
        rating.procedure.dose_class,
        rating.procedure.code,
    )


def evaluate(indication_code: str, context: PatientContext, rules: CompiledRuleSet) -> Decision:
    """Rate every candidate procedure of the indication for this patient.

    Ratings come best first (score, then, in pregnancy, non-ionising before ionising,
    then first-line, then lower dose). An
    indication with no rule, or with no rule matching this patient, is an explicit
    "no guideline applies" decision, never an empty success."""
    entry = rules.entries.get(indication_code)
    if entry is None or not entry.candidates:
        return Decision(
            indication_code=indication_code,
            rule_set_version=rules.version,
            status="no_guideline",
            reason_fr="Aucune recommandation ne s'applique à cette indication.",
            reason_en="No guideline applies to this indication.",
        )
    ratings = []
    for candidate in entry.candidates:
        rule = _winning_rule(candidate, context, entry.indication.red_flags)
        if rule is not None:
            ratings.append(_rate(rule, context))
    if not ratings:
        return Decision(
            indication_code=indication_code,
            rule_set_version=rules.version,
            status="no_guideline",
            reason_fr="Aucune règle de cette indication ne s'applique à ce patient.",
            reason_en="No rule of this indication applies to this patient.",
        )
    return Decision(
        indication_code=indication_code,
        rule_set_version=rules.version,
        status="rated",
        ratings=tuple(
            sorted(ratings, key=lambda r: _order(r, pregnant=context.pregnancy == "yes"))
        ),
    )
