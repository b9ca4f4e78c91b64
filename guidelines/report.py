"""The rule pack's content report: what a medical director reads and signs off.

Built from validated documents (the pack files, or a rule set's export read back
through the same reader) and the verified code files, never from anything else, so
the page says exactly what would be loaded: situations per area, rules, golden cases,
sources with years, situations resting on a source older than ten years, exams the
rules use with no verified CCAM code (with why), the CIM-10 codes, and every rule
that asks for a clinician's review.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

from guidelines.codes import CodeTables, VerifiedCode
from guidelines.models import Area, Category
from guidelines.rulepack import Document

# A source is "older than ten years" when its year is before today's year minus ten:
# in 2026, a 2015 guide is; a 2016 one is not yet (years are all the sources give).
OLD_SOURCE_YEARS = 10


@dataclass(frozen=True)
class SourceLine:
    document: str
    year: int
    rules: int


@dataclass
class Situation:
    code: str
    label_fr: str
    label_en: str
    area: str
    rules: int = 0
    golden_cases: int = 0
    years: list[int] = field(default_factory=list)
    old_sources: list[SourceLine] = field(default_factory=list)
    icd10: list[VerifiedCode] = field(default_factory=list)
    icd10_unverified: list[str] = field(default_factory=list)
    icd10_missing: str = ""


@dataclass(frozen=True)
class AreaLine:
    code: str
    label: str
    situations: list[Situation]
    rules: int
    golden_cases: int


@dataclass(frozen=True)
class ExamLine:
    code: str
    label_fr: str
    label_en: str
    rules: int
    ccam: list[VerifiedCode]
    why_none: str


@dataclass(frozen=True)
class ReviewLine:
    indication: str
    procedure: str
    category: str
    source: str
    review: str


@dataclass
class RulePackReport:
    title: str
    today: date
    areas: list[AreaLine]
    sources: list[SourceLine]
    old_situations: list[Situation]
    exams: list[ExamLine]
    reviews: list[ReviewLine]
    waiting_codes: list[str]
    catalogue_size: int
    catalogue_with_ccam: int

    @property
    def situations(self) -> int:
        return sum(len(a.situations) for a in self.areas)

    @property
    def rules(self) -> int:
        return sum(a.rules for a in self.areas)

    @property
    def golden_cases(self) -> int:
        return sum(a.golden_cases for a in self.areas)

    @property
    def exams_without_ccam(self) -> list[ExamLine]:
        return [e for e in self.exams if not e.ccam]

    @property
    def situations_with_icd10(self) -> int:
        return sum(1 for a in self.areas for s in a.situations if s.icd10)

    @property
    def old_before(self) -> int:
        return self.today.year - OLD_SOURCE_YEARS


def report_build(
    documents: Sequence[Document],
    tables: CodeTables,
    *,
    catalogue: dict[str, dict[str, str]],
    title: str,
    today: date | None = None,
) -> RulePackReport:
    """`catalogue`: every exam code of the catalogue -> {"label_fr", "label_en"}."""
    today = today or date.today()
    old_before = today.year - OLD_SOURCE_YEARS
    situations: dict[str, Situation] = {}
    for document in documents:
        for row in document.indications:
            verified = tables.cim10.entries.get(row["code"], [])
            known = {v.code for v in verified}
            situations[row["code"]] = Situation(
                code=row["code"],
                label_fr=row["label_fr"],
                label_en=row["label_en"],
                area=row["area"] or "",
                icd10=verified,
                icd10_unverified=[c for c in row["icd10_codes"] if c not in known],
                icd10_missing=tables.cim10.missing.get(row["code"], ""),
            )
    sources: Counter[tuple[str, int]] = Counter()
    per_situation: dict[str, Counter[tuple[str, int]]] = defaultdict(Counter)
    exam_rules: Counter[str] = Counter()
    reviews: list[ReviewLine] = []
    for document in documents:
        for rule in document.rules:
            key = (rule["source_document"], rule["source_year"])
            sources[key] += 1
            per_situation[rule["indication"]][key] += 1
            exam_rules[rule["procedure"]] += 1
            situations[rule["indication"]].rules += 1
            if rule.get("review"):
                reviews.append(
                    ReviewLine(
                        indication=rule["indication"],
                        procedure=rule["procedure"],
                        category=str(Category(rule["category"]).label),
                        source=f"{rule['source_document']} ({rule['source_year']})",
                        review=rule["review"],
                    )
                )
        for case in document.golden_cases:
            situations[case["indication"]].golden_cases += 1
    for code, counted in per_situation.items():
        situation = situations[code]
        situation.years = sorted({year for _, year in counted})
        situation.old_sources = [
            SourceLine(doc, year, n)
            for (doc, year), n in sorted(counted.items())
            if year < old_before
        ]
    areas = []
    for area in Area:
        members = sorted(
            (s for s in situations.values() if s.area == area.value), key=lambda s: s.code
        )
        if members:
            areas.append(
                AreaLine(
                    code=area.value,
                    label=str(area.label),
                    situations=members,
                    rules=sum(s.rules for s in members),
                    golden_cases=sum(s.golden_cases for s in members),
                )
            )
    exams = [
        ExamLine(
            code=code,
            label_fr=catalogue.get(code, {}).get("label_fr", code),
            label_en=catalogue.get(code, {}).get("label_en", code),
            rules=n,
            ccam=[] if code in tables.ccam.waiting else tables.ccam.entries.get(code, []),
            why_none=tables.ccam.missing.get(code, "")
            or ("" if code in tables.ccam.entries else _("Not listed in codes/ccam.yaml.")),
        )
        for code, n in sorted(exam_rules.items())
    ]
    with_ccam = sum(
        1 for code in catalogue if code in tables.ccam.entries and code not in tables.ccam.waiting
    )
    return RulePackReport(
        title=title,
        today=today,
        areas=areas,
        sources=[
            SourceLine(doc, year, n)
            for (doc, year), n in sorted(sources.items(), key=lambda kv: (-kv[0][1], kv[0][0]))
        ],
        old_situations=[s for a in areas for s in a.situations if s.old_sources],
        exams=exams,
        reviews=sorted(reviews, key=lambda r: (r.indication, r.procedure)),
        waiting_codes=sorted(tables.ccam.waiting + tables.cim10.waiting),
        catalogue_size=len(catalogue),
        catalogue_with_ccam=with_ccam,
    )
