"""Rule pack files (guidelines/data/rulepack/FORMAT.md): read, validate, write.

A document is read with PyYAML's safe loader only (JSON goes through `json`),
checked field by field, and every error names the file, the line and the field.
Nothing is written unless every document of a load is valid, and then all of it
is written in one transaction (`documents_write`).

The same reader takes the export format of a whole rule set
(guidelines.services.transfer), which is a pack with three extra top-level keys
(`format`, `version`, `label`) and an `area` on each indication.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from django.db import transaction

from guidelines.conditions import conditions_parse, pregnancy_value
from guidelines.context import PatientContext, PriorExamFact
from guidelines.models import (
    Area,
    Category,
    Contrast,
    Evidence,
    GoldenCase,
    Indication,
    Intention,
    Priority,
    Procedure,
    Rule,
    RuleSet,
)
from guidelines.resolve import fold
from imaging_cds.vocab import IONISING_MODALITIES, Modality

if TYPE_CHECKING:
    from guidelines.codes import CodeTables

RULEPACK_DIR = Path(__file__).parent / "data" / "rulepack"
from guidelines.catalogue import CATALOGUE_FILE  # noqa: E402

TOP_KEYS = {"area", "procedures", "indications", "rules", "golden_cases"}
EXPORT_KEYS = {"format", "version", "label"}
PROCEDURE_KEYS = {
    "code",
    "modality",
    "body_region",
    "contrast",
    "dose_class",
    "duration_minutes",
    "label_fr",
    "label_en",
}
INDICATION_KEYS = {
    "code",
    "area",
    "label_fr",
    "label_en",
    "synonyms",
    "icd10_codes",
    "snomed_codes",
    "red_flags",
    "duration_days",
}
RED_FLAG_KEYS = {"code", "label_fr", "label_en", "words", "absent_words"}
RED_FLAG_REQUIRED = {"code", "label_fr", "label_en"}
DURATION_KEYS = {"min", "max"}
MAX_DURATION_DAYS = 36500
MAX_WORD = 200
RULE_KEYS = {
    "indication",
    "procedure",
    "conditions",
    "category",
    "evidence",
    "intention",
    "priority",
    "rationale_fr",
    "rationale_en",
    "source",
    "repeat_interval_days",
    "review",
}
RULE_REQUIRED = RULE_KEYS - {"conditions", "repeat_interval_days", "review"}
SOURCE_KEYS = {"document", "section", "year", "url"}
GOLDEN_KEYS = {"name", "indication", "context", "expect"}
# The patient context of a golden case: PatientContext's fields, `age` for age_years,
# and prior exams as [{procedure: code, days_ago: N}].
GOLDEN_CONTEXT_KEYS = {
    "age",
    "sex",
    "pregnancy",
    "red_flags",
    "egfr",
    "mri_unsafe_implant",
    "contrast_allergy",
    "claustrophobia",
    "weight_kg",
    "reduced_mobility",
    "prior_exams",
}
SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
ICD10 = re.compile(r"^[A-Z][0-9]{2}(?:\.[0-9A-Z]{1,4})?$")
SNOMED = re.compile(r"^[1-9][0-9]{5,17}$")
MAX_TEXT = 4000

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class PackError:
    filename: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.filename}, line {self.line}" if self.line else self.filename
        return (
            f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class RulePackInvalid(ValueError):
    def __init__(self, errors: Sequence[PackError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)


@dataclass
class Document:
    """One parsed and validated file, in file order."""

    filename: str
    procedures: list[dict[str, Any]] = field(default_factory=list)
    indications: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    golden_cases: list[dict[str, Any]] = field(default_factory=list)
    label: str = ""


# --- Reading, with line numbers ------------------------------------------------------


def _lines(node: yaml.Node, path: Path_, out: dict[Path_, int], dupes: list[Path_]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                dupes.append((*path, key))
            seen.add(key)
            out[(*path, key)] = key_node.start_mark.line + 1
            _lines(value_node, (*path, key), out, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), out, dupes)


# libyaml's loaders when PyYAML was built with it (the wheels are): reading the pack
# happens on every load and every demo load, and the pure-Python parser takes seconds
# for a pack of this size.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_read(text: str) -> Any:
    """A YAML document, read safely (data only, never objects)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader


def _read(text: str, filename: str, fmt: str) -> tuple[Any, dict[Path_, int], list[PackError]]:
    lines: dict[Path_, int] = {}
    dupes: list[Path_] = []
    try:
        if fmt == "json":
            data = json.loads(text)
        else:
            data = yaml_read(text)
    except json.JSONDecodeError as exc:
        return None, lines, [PackError(filename, exc.lineno, "", f"not valid JSON: {exc.msg}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return None, lines, [PackError(filename, line, "", f"not valid YAML: {problem}")]
    try:
        # JSON is YAML's flow style: the safe composer gives line numbers for both.
        node = yaml.compose(text, Loader=_SAFE_LOADER)
        if node is not None:
            _lines(node, (), lines, dupes)
    except yaml.YAMLError:
        pass
    errors = [
        PackError(filename, lines.get(path), _dotted(path), "key given twice") for path in dupes
    ]
    return data, lines, errors


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Checker:
    """Collects errors for one document, each with its line and field."""

    def __init__(self, filename: str, lines: dict[Path_, int]) -> None:
        self.filename = filename
        self.lines = lines
        self.errors: list[PackError] = []
        # Fields already reported missing: not reported again as invalid.
        self.missing: set[Path_] = set()

    def error(self, path: Path_, message: str) -> None:
        if path in self.missing:
            return
        line = None
        probe = path
        while probe and line is None:
            line = self.lines.get(probe)
            probe = probe[:-1]
        self.errors.append(PackError(self.filename, line, _dotted(path), message))

    def mapping(self, value: Any, path: Path_, allowed: set[str], required: set[str]) -> bool:
        if not isinstance(value, dict):
            self.error(path, "must be a mapping")
            return False
        for key in sorted(set(map(str, value)) - allowed):
            self.error((*path, key), "unknown field")
        for key in sorted(required - set(value)):
            self.error(path, f"missing field '{key}'")
            self.missing.add((*path, key))
        return True

    def text(self, item: dict[str, Any], key: str, path: Path_, *, required: bool = True) -> str:
        value = item.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.error((*path, key), "must be a non-empty text" if required else "must be text")
            return ""
        if len(value) > MAX_TEXT:
            self.error((*path, key), f"is longer than {MAX_TEXT} characters")
        return value

    def choice(self, item: dict[str, Any], key: str, path: Path_, choices: Iterable[str]) -> str:
        value = item.get(key)
        allowed = list(choices)
        if value not in allowed:
            self.error((*path, key), f"must be one of {', '.join(allowed)} (got {value!r})")
            return ""
        return str(value)

    def integer(
        self, item: dict[str, Any], key: str, path: Path_, low: int, high: int
    ) -> int | None:
        value = item.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error((*path, key), f"must be a whole number from {low} to {high}")
            return None
        return value

    def strings(self, item: dict[str, Any], key: str, path: Path_) -> list[str]:
        value = item.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error((*path, key), "must be a list of texts")
            return []
        return list(value)

    def words(
        self, item: dict[str, Any], key: str, path: Path_, seen: dict[str, Path_]
    ) -> list[str]:
        """A list of words a prescriber writes: non-empty texts, none given twice.

        `seen` maps the folded form of each word already read in the same scope
        (accents, case and punctuation do not make two words different: the
        matcher folds them) to where it was read; it is updated."""
        out: list[str] = []
        for index, word in enumerate(self.strings(item, key, path)):
            folded = fold(word)
            if not folded or len(word) > MAX_WORD:
                self.error(
                    (*path, key, index),
                    f"must be a non-empty text of at most {MAX_WORD} characters",
                )
                continue
            if folded in seen:
                self.error(
                    (*path, key, index),
                    f"{word!r} is given twice (also at {_dotted(seen[folded])})",
                )
                continue
            seen[folded] = (*path, key, index)
            out.append(word)
        return out

    def duration(self, item: dict[str, Any], path: Path_) -> dict[str, int]:
        """`duration_days: {min, max}`: either bound, whole days, min < max."""
        if item.get("duration_days") is None:
            return {}
        value = item["duration_days"]
        where = (*path, "duration_days")
        if not self.mapping(value, where, DURATION_KEYS, set()):
            return {}
        if not value:
            self.error(where, "must give min, max or both")
            return {}
        out: dict[str, int] = {}
        for key in ("min", "max"):
            if key in value:
                days = self.integer(value, key, where, 0, MAX_DURATION_DAYS)
                if days is not None:
                    out[key] = days
        if "min" in out and "max" in out and out["min"] >= out["max"]:
            self.error(where, "min must be less than max")
        return out


# --- Validation, field by field -------------------------------------------------------


def _procedure(check: _Checker, item: Any, path: Path_) -> dict[str, Any] | None:
    if not check.mapping(item, path, PROCEDURE_KEYS, PROCEDURE_KEYS - {"duration_minutes"}):
        return None
    row: dict[str, Any] = {
        "code": check.text(item, "code", path),
        "modality": check.choice(item, "modality", path, Modality.values),
        "body_region": check.text(item, "body_region", path),
        "contrast": check.choice(item, "contrast", path, Contrast.values),
        "dose_class": check.integer(item, "dose_class", path, 0, 4),
        "duration_minutes": check.integer(item, "duration_minutes", path, 1, 600)
        if "duration_minutes" in item
        else 20,
        "label_fr": check.text(item, "label_fr", path),
        "label_en": check.text(item, "label_en", path),
    }
    if row["code"] and not SLUG.match(row["code"]):
        check.error((*path, "code"), "must be a slug (lower-case letters, digits, hyphens)")
    ionising = row["modality"] in IONISING_MODALITIES
    if row["modality"] and row["dose_class"] is not None and ionising != (row["dose_class"] > 0):
        check.error((*path, "dose_class"), "must be 0 exactly when the modality is not ionising")
    return row


def _indication(check: _Checker, item: Any, path: Path_, area: str | None) -> dict[str, Any] | None:
    required = {"code", "label_fr", "label_en"} | (set() if area else {"area"})
    if not check.mapping(item, path, INDICATION_KEYS, required):
        return None
    row: dict[str, Any] = {
        "code": check.text(item, "code", path),
        "area": check.choice(item, "area", path, Area.values) if "area" in item else area,
        "label_fr": check.text(item, "label_fr", path),
        "label_en": check.text(item, "label_en", path),
        "synonyms": check.words(item, "synonyms", path, {}),
        "icd10_codes": check.strings(item, "icd10_codes", path),
        "snomed_codes": [str(c) for c in item.get("snomed_codes") or []]
        if isinstance(item.get("snomed_codes"), list | type(None))
        else check.strings(item, "snomed_codes", path),
        "red_flags": [],
        "duration_days": check.duration(item, path),
    }
    if row["code"] and not SLUG.match(row["code"]):
        check.error((*path, "code"), "must be a slug (lower-case letters, digits, hyphens)")
    for index, code in enumerate(row["icd10_codes"]):
        if not ICD10.match(code):
            check.error((*path, "icd10_codes", index), f"not an ICD-10 code: {code!r}")
    for index, code in enumerate(row["snomed_codes"]):
        if not SNOMED.match(code):
            check.error((*path, "snomed_codes", index), f"not a SNOMED CT concept id: {code!r}")
    flags = item.get("red_flags") or []
    if not isinstance(flags, list):
        check.error((*path, "red_flags"), "must be a list")
        flags = []
    # A word stands for one red flag of the indication, present or absent, never two.
    flag_words: dict[str, Path_] = {}
    for index, flag in enumerate(flags):
        flag_path = (*path, "red_flags", index)
        if check.mapping(flag, flag_path, RED_FLAG_KEYS, RED_FLAG_REQUIRED):
            flag_row: dict[str, Any] = {
                k: check.text(flag, k, flag_path) for k in ("code", "label_fr", "label_en")
            }
            if flag_row["code"] in {f["code"] for f in row["red_flags"]}:
                check.error((*flag_path, "code"), "red flag given twice")
            flag_row["words"] = check.words(flag, "words", flag_path, flag_words)
            flag_row["absent_words"] = check.words(flag, "absent_words", flag_path, flag_words)
            row["red_flags"].append(flag_row)
    return row


def _rule(
    check: _Checker,
    item: Any,
    path: Path_,
    indications: dict[str, dict[str, Any]],
    procedures: set[str],
) -> dict[str, Any] | None:
    if not check.mapping(item, path, RULE_KEYS, RULE_REQUIRED):
        return None
    indication = item.get("indication")
    if indication not in indications:
        check.error((*path, "indication"), f"unknown indication {indication!r}")
    procedure = item.get("procedure")
    if procedure not in procedures:
        check.error((*path, "procedure"), f"unknown procedure {procedure!r}")
    flags = {f["code"] for f in indications.get(indication, {}).get("red_flags", [])}
    _, condition_errors = conditions_parse(item.get("conditions"), red_flag_codes=flags)
    for error in condition_errors:
        key = error.key if error.key != "conditions" else None
        check.error((*path, "conditions", *(() if key is None else (key,))), error.message)
    row: dict[str, Any] = {
        "indication": indication,
        "procedure": procedure,
        "conditions": conditions_normalise(item.get("conditions") or {}),
        "category": check.choice(item, "category", path, Category.values),
        "evidence": check.choice(item, "evidence", path, Evidence.values),
        "intention": check.choice(item, "intention", path, Intention.values),
        "priority": check.choice(item, "priority", path, Priority.values),
        "rationale_fr": check.text(item, "rationale_fr", path),
        "rationale_en": check.text(item, "rationale_en", path),
        "repeat_interval_days": None,
        # Why a clinician should check this rule; "" when nobody flagged it.
        "review": check.text(item, "review", path, required=False).strip(),
    }
    if item.get("repeat_interval_days") is not None:
        row["repeat_interval_days"] = check.integer(item, "repeat_interval_days", path, 1, 3650)
    source = item.get("source")
    source_path = (*path, "source")
    if check.mapping(source, source_path, SOURCE_KEYS, {"document", "year"}):
        row["source_document"] = check.text(source, "document", source_path)
        row["source_section"] = check.text(source, "section", source_path, required=False)
        row["source_year"] = check.integer(source, "year", source_path, 1990, 2100)
        url = check.text(source, "url", source_path, required=False)
        if url and not re.match(r"^https?://\S+$", url):
            check.error((*source_path, "url"), "must be an http(s) address")
        row["source_url"] = url
    return row


def conditions_normalise(raw: Any) -> Any:
    """Store pregnancy as its words (YAML reads an unquoted yes as true)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    if isinstance(out.get("pregnancy"), list):
        out["pregnancy"] = [pregnancy_value(v) or v for v in out["pregnancy"]]
    return out


def _golden(
    check: _Checker,
    item: Any,
    path: Path_,
    indications: dict[str, dict[str, Any]],
    procedures: set[str],
) -> dict[str, Any] | None:
    if not check.mapping(item, path, GOLDEN_KEYS, GOLDEN_KEYS):
        return None
    name = check.text(item, "name", path)
    indication = item.get("indication")
    if indication not in indications:
        check.error((*path, "indication"), f"unknown indication {indication!r}")
    context = item.get("context")
    context_path = (*path, "context")
    normalised: dict[str, Any] = {}
    if check.mapping(context, context_path, GOLDEN_CONTEXT_KEYS, {"age"}):
        normalised = _golden_context(check, context, context_path, indications.get(indication))
    expect = item.get("expect")
    if not isinstance(expect, dict) or not expect:
        check.error((*path, "expect"), "must map procedure codes to expected categories")
        expect = {}
    for code, category in expect.items():
        if code not in procedures:
            check.error((*path, "expect", str(code)), f"unknown procedure {code!r}")
        if category not in Category.values:
            check.error((*path, "expect", str(code)), f"unknown category {category!r}")
    return {"name": name, "indication": indication, "context": normalised, "expect": dict(expect)}


def _golden_context(
    check: _Checker, context: dict[str, Any], path: Path_, indication: dict[str, Any] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in context.items():
        if key == "age":
            out[key] = check.integer(context, key, path, 0, 130)
        elif key == "sex":
            out[key] = check.choice(context, key, path, ["F", "M", "U"])
        elif key == "pregnancy":
            out[key] = pregnancy_value(value)
            if out[key] is None:
                check.error((*path, key), "must be yes, no or unknown")
        elif key == "red_flags":
            out[key] = check.strings(context, key, path)
            known = {f["code"] for f in (indication or {}).get("red_flags", [])}
            for flag in out[key]:
                if indication is not None and flag not in known:
                    check.error((*path, key), f"not a red flag of this indication: {flag}")
        elif key in ("egfr", "weight_kg"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                check.error((*path, key), "must be a number, 0 or more")
            out[key] = value
        elif key == "prior_exams":
            out[key] = []
            for index, prior in enumerate(value if isinstance(value, list) else [None]):
                prior_path = (*path, key, index)
                keys = {"procedure", "days_ago"}
                if check.mapping(prior, prior_path, keys, keys):
                    days = check.integer(prior, "days_ago", prior_path, 0, 36500)
                    out[key].append({"procedure": prior.get("procedure"), "days_ago": days})
        else:  # the boolean flags
            if not isinstance(value, bool):
                check.error((*path, key), "must be true or false")
            out[key] = value
    return out


def golden_context(context: dict[str, Any], *, today: date | None = None) -> PatientContext:
    """The PatientContext a golden case describes (validated beforehand)."""
    today = today or date.today()
    priors = tuple(
        PriorExamFact(
            performed_on=today - timedelta(days=prior["days_ago"]),
            modality="",
            description=prior["procedure"],
            procedure_code=prior["procedure"],
            confidence=1.0,
        )
        for prior in context.get("prior_exams", [])
    )
    return PatientContext(
        age_years=context["age"],
        sex=context.get("sex", "U"),
        pregnancy=context.get("pregnancy", "unknown"),
        red_flags=frozenset(context.get("red_flags", [])),
        egfr=context.get("egfr"),
        mri_unsafe_implant=context.get("mri_unsafe_implant", False),
        contrast_allergy=context.get("contrast_allergy", False),
        claustrophobia=context.get("claustrophobia", False),
        weight_kg=context.get("weight_kg"),
        reduced_mobility=context.get("reduced_mobility", False),
        prior_exams=priors,
        today=today,
    )


# --- Whole documents -------------------------------------------------------------------


@dataclass
class _Raw:
    filename: str
    data: dict[str, Any]
    check: _Checker
    area: str | None = None


def documents_parse(
    sources: Sequence[tuple[str, str, str]],
    *,
    known_procedures: Iterable[str],
    reserved_procedures: Iterable[str] = (),
    export_format: bool = False,
) -> list[Document]:
    """Validate documents given as (filename, text, "yaml"|"json"), as one batch.

    Rules and golden cases may refer to indications and procedures declared in
    any document of the batch, or to procedures already in `known_procedures`.
    `reserved_procedures` may not be declared again (procedures.yaml's codes, for
    rule packs). Raises RulePackInvalid with every error of every document."""
    reserved = set(reserved_procedures)
    errors: list[PackError] = []
    raws: list[_Raw] = []
    allowed_top = TOP_KEYS | (EXPORT_KEYS if export_format else set())
    for filename, text, fmt in sources:
        data, lines, read_errors = _read(text, filename, fmt)
        errors.extend(read_errors)
        if data is None and not read_errors:
            data = {}
        if read_errors and data is None:
            continue
        check = _Checker(filename, lines)
        if not check.mapping(data, (), allowed_top, set()):
            errors.extend(check.errors)
            continue
        area = data.get("area")
        if area is not None and area not in Area.values:
            check.error(("area",), f"must be one of {', '.join(Area.values)}")
            area = None
        if area is None and not export_format:
            check.error(("area",), "missing: every pack file names its area")
        for key in ("procedures", "indications", "rules", "golden_cases"):
            if not isinstance(data.get(key) or [], list):
                check.error((key,), "must be a list")
                data[key] = []
        raws.append(_Raw(filename, data, check, area))

    documents = [Document(filename=raw.filename) for raw in raws]
    procedures = set(known_procedures)
    declared: dict[str, str] = {}
    indications: dict[str, dict[str, Any]] = {}
    for raw, document in zip(raws, documents, strict=True):
        document.label = str(raw.data.get("label") or "")
        for index, item in enumerate(raw.data.get("procedures") or []):
            row = _procedure(raw.check, item, ("procedures", index))
            if row is None or not row["code"]:
                continue
            if row["code"] in reserved:
                raw.check.error(
                    ("procedures", index, "code"),
                    f"procedure {row['code']} is already in procedures.yaml",
                )
            elif row["code"] in declared:
                raw.check.error(
                    ("procedures", index, "code"),
                    f"procedure {row['code']} is already declared in {declared[row['code']]}",
                )
            declared[row["code"]] = raw.filename
            document.procedures.append(row)
        for index, item in enumerate(raw.data.get("indications") or []):
            row = _indication(raw.check, item, ("indications", index), raw.area)
            if row is None or not row["code"]:
                continue
            if row["code"] in indications:
                raw.check.error(("indications", index, "code"), "indication declared twice")
            indications[row["code"]] = row
            document.indications.append(row)
    procedures |= set(declared)
    for raw, document in zip(raws, documents, strict=True):
        for index, item in enumerate(raw.data.get("rules") or []):
            rule = _rule(raw.check, item, ("rules", index), indications, procedures)
            if rule is not None:
                document.rules.append(rule)
        for index, item in enumerate(raw.data.get("golden_cases") or []):
            case = _golden(raw.check, item, ("golden_cases", index), indications, procedures)
            if case is not None:
                document.golden_cases.append(case)
        errors.extend(raw.check.errors)
    if errors:
        raise RulePackInvalid(errors)
    return documents


def documents_write(
    documents: Sequence[Document], *, rule_set: RuleSet, update_catalogue: bool
) -> tuple[int, int]:
    """Write validated documents into an (empty, draft) rule set, in one transaction.

    Indications are upserted; declared procedures are created, or updated when
    `update_catalogue` (a rule pack load), or else must equal the catalogue.
    Returns (rules, golden cases) created."""
    assert rule_set.is_draft, "only a draft rule set is written to"
    with transaction.atomic():
        for document in documents:
            for row in document.procedures:
                _procedure_upsert(row, document.filename, update=update_catalogue)
            for row in document.indications:
                fields = {k: v for k, v in row.items() if k != "code"}
                Indication.objects.update_or_create(code=row["code"], defaults=fields)
        indication_ids = dict(Indication.objects.values_list("code", "id"))
        procedure_ids = dict(Procedure.objects.values_list("code", "id"))
        rules: list[Rule] = []
        cases: list[GoldenCase] = []
        for document in documents:
            for row in document.rules:
                values = {k: v for k, v in row.items() if k not in ("indication", "procedure")}
                rule = Rule(
                    rule_set=rule_set,
                    indication_id=indication_ids[row["indication"]],
                    procedure_id=procedure_ids[row["procedure"]],
                    position=len(rules),
                    **values,
                )
                rule.full_clean(exclude=["rule_set", "indication", "procedure"])
                rules.append(rule)
            for row in document.golden_cases:
                cases.append(
                    GoldenCase(
                        rule_set=rule_set,
                        name=row["name"],
                        indication_id=indication_ids[row["indication"]],
                        context=row["context"],
                        expect=row["expect"],
                        position=len(cases),
                    )
                )
        Rule.objects.bulk_create(rules, batch_size=1000)
        GoldenCase.objects.bulk_create(cases, batch_size=1000)
    return len(rules), len(cases)


def _procedure_upsert(row: dict[str, Any], filename: str, *, update: bool) -> None:
    existing = Procedure.objects.filter(code=row["code"]).first()
    if existing is None:
        procedure = Procedure(**row)
        procedure.full_clean()
        procedure.save()
        return
    different = [k for k, v in row.items() if getattr(existing, k) != v]
    if not different:
        return
    if not update:
        raise RulePackInvalid(
            [
                PackError(
                    filename,
                    None,
                    f"procedures.{row['code']}.{different[0]}",
                    "differs from the procedure catalogue; change the catalogue first",
                )
            ]
        )
    for key, value in row.items():
        setattr(existing, key, value)
    existing.full_clean()
    existing.save()


def catalogue_codes() -> set[str]:
    rows = yaml_read(CATALOGUE_FILE.read_text(encoding="utf-8")) or []
    return {row["code"] for row in rows}


def pack_files(directory: Path = RULEPACK_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def packs_parse(paths: Sequence[Path]) -> list[Document]:
    """Validate rule pack files as one batch (FORMAT.md), and the code files beside
    them (guidelines/data/codes), without writing anything."""
    return packs_parse_with_codes(paths)[0]


def packs_parse_with_codes(paths: Sequence[Path]) -> tuple[list[Document], CodeTables]:
    from guidelines.codes import code_tables_parse

    base = catalogue_codes()
    sources = [(path.name, path.read_text(encoding="utf-8"), "yaml") for path in paths]
    # FORMAT.md: a code may be declared once in the whole catalogue.
    documents = documents_parse(sources, known_procedures=base, reserved_procedures=base)
    # The code files cover the whole pack: loading some of its files (or test packs)
    # leaves the other entries unused, not wrong.
    procedures, indications = _pack_directory_codes()
    tables = code_tables_parse(
        procedures=base | procedures | {p["code"] for d in documents for p in d.procedures},
        indications=indications | {i["code"] for d in documents for i in d.indications},
    )
    return documents, tables


def _pack_directory_codes() -> tuple[set[str], set[str]]:
    """Exam and indication codes declared by the pack files of RULEPACK_DIR, read
    loosely (a file that does not parse is reported when it is loaded, not here)."""
    procedures: set[str] = set()
    indications: set[str] = set()
    for path in pack_files():
        try:
            data = yaml_read(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        for key, found in (("procedures", procedures), ("indications", indications)):
            for item in data.get(key) or []:
                if isinstance(item, dict) and isinstance(item.get("code"), str):
                    found.add(item["code"])
    return procedures, indications


def codes_into_documents(documents: Sequence[Document], tables: CodeTables) -> None:
    """Each indication row gets the CIM-10 codes verified for it (pack codes first)."""
    from guidelines.codes import indication_codes_merge

    for document in documents:
        for row in document.indications:
            row["icd10_codes"] = indication_codes_merge(
                row["icd10_codes"], tables.cim10.codes(row["code"])
            )


def procedure_codes_write(tables: CodeTables) -> int:
    """Every exam's CCAM codes as the code file gives them ([] when none was verified,
    so a mapping removed from the file does not linger). Returns how many changed."""
    changed = 0
    for procedure in Procedure.objects.all():
        codes = tables.ccam.codes(procedure.code)
        if list(procedure.ccam_codes or []) != codes:
            procedure.ccam_codes = codes
            procedure.save(update_fields=["ccam_codes"])
            changed += 1
    return changed


@dataclass(frozen=True)
class PackLoadResult:
    rule_set: RuleSet
    files: int
    rules: int
    golden_cases: int
    published: bool


def _pack_label(names: str, count: int) -> str:
    """The rule set's default label: the file names while they fit the label field,
    else their count (the names stay in the change record's details)."""
    from guidelines.models import RuleSet

    limit = RuleSet._meta.get_field("label").max_length or 200
    full = f"Rule pack ({names})"
    return full if len(full) <= limit else f"Rule pack ({count} files)"


def rulepack_load(
    *,
    paths: Sequence[Path] | None = None,
    user: Any = None,
    label: str = "",
    publish: bool = False,
) -> PackLoadResult:
    """Load rule pack files into a new draft rule set, and publish it if asked.

    All files are validated first, as one batch; then the catalogue, indications,
    rules and golden cases are written in one transaction, publication included
    (refused while a golden case fails)."""
    from guidelines.catalogue import procedure_catalogue_load
    from guidelines.models import ChangeAction
    from guidelines.services.history import rule_change_record
    from guidelines.services.rulesets import rule_set_create, rule_set_publish, user_or_none

    paths = pack_files() if paths is None else list(paths)
    documents, tables = packs_parse_with_codes(paths)
    codes_into_documents(documents, tables)
    with transaction.atomic():
        procedure_catalogue_load(path=CATALOGUE_FILE)
        names = ", ".join(path.name for path in paths) or "no file"
        rule_set = rule_set_create(user=user, label=label or _pack_label(names, len(paths)))
        rules, cases = documents_write(documents, rule_set=rule_set, update_catalogue=True)
        procedure_codes_write(tables)
        rule_change_record(
            rule_set=rule_set,
            action=ChangeAction.IMPORT,
            user=user_or_none(user),
            reason=f"Rule pack loaded: {names}",
            details={"files": [path.name for path in paths], "rules": rules},
        )
        if publish:
            rule_set_publish(rule_set=rule_set, user=user, reason="Rule pack loaded")
            rule_set.refresh_from_db()
    return PackLoadResult(rule_set, len(paths), rules, cases, publish)
