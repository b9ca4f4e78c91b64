"""Verified external codes of the catalogue: CCAM for exams, CIM-10 for indications.

Two data files, guidelines/data/codes/ccam.yaml and cim10.yaml (format in the README
beside them), are read with the rule pack and checked like it: every error names the
file, the line and the field, and nothing is loaded while one is wrong.

What is loaded: each exam's CCAM codes (`Procedure.ccam_codes`, the table an EHR's
CCAM-coded order is matched through) and each indication's CIM-10 codes, added to its
pack file's `icd10_codes`. An entry for an exam or indication that is not in the
catalogue is refused, unless the file lists it under `planned` (another pack file
will declare it): such an entry waits, is not loaded, and is counted as waiting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from guidelines.rulepack import ICD10, SLUG, PackError, Path_, RulePackInvalid, _Checker, _read

CODES_DIR = Path(__file__).parent / "data" / "codes"
CCAM_FILE = CODES_DIR / "ccam.yaml"
CIM10_FILE = CODES_DIR / "cim10.yaml"
# FHIR system of CCAM codes in the ANS French profiles: the FR Document Core guide's
# ValueSet fr-vs-procedure-code includes the codes of
# https://smt.esante.gouv.fr/terminologie-ccam (ANS terminologies, CCAM v83.00).
CCAM_SYSTEM = "https://smt.esante.gouv.fr/terminologie-ccam"
# Seven characters: four letters (topography, action, approach) and three digits.
CCAM_CODE = re.compile(r"^[A-Z]{4}[0-9]{3}$")
TOP_KEYS = {"sources", "planned", "missing", "procedures", "indications"}
SOURCE_KEYS = {"document", "year", "url", "repo", "path", "commit"}
ENTRY_KEYS = {"code", "label", "sources"}

Kind = Literal["ccam", "cim10"]


@dataclass(frozen=True)
class CodeSource:
    key: str
    document: str
    year: int
    url: str = ""
    repo: str = ""
    path: str = ""
    commit: str = ""

    @property
    def where(self) -> str:
        """The address to read it at: the URL, else repository and path."""
        return self.url or (f"{self.repo}:{self.path}" if self.repo else "")


@dataclass(frozen=True)
class VerifiedCode:
    code: str
    label: str
    sources: tuple[CodeSource, ...]


@dataclass
class CodeTable:
    """One file: our code (exam or indication) -> the external codes verified for it."""

    kind: Kind
    filename: str
    entries: dict[str, list[VerifiedCode]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    planned: frozenset[str] = frozenset()
    sources: dict[str, CodeSource] = field(default_factory=dict)
    # Entries for planned codes not (yet) in the catalogue: kept aside, not loaded.
    waiting: list[str] = field(default_factory=list)

    def codes(self, ours: str) -> list[str]:
        return [entry.code for entry in self.entries.get(ours, []) if ours not in self.waiting]


@dataclass
class CodeTables:
    ccam: CodeTable
    cim10: CodeTable


def code_table_parse(text: str, filename: str, kind: Kind) -> tuple[CodeTable, list[PackError]]:
    """Read and check one file's shape; which keys exist is checked by code_tables_parse."""
    data, lines, errors = _read(text, filename, "yaml")
    table = CodeTable(kind=kind, filename=filename)
    if data is None:
        return table, errors or [PackError(filename, None, "", "empty file")]
    check = _Checker(filename, lines)
    entries_key = "procedures" if kind == "ccam" else "indications"
    if not check.mapping(data, (), TOP_KEYS - {"procedures", "indications"} | {entries_key}, set()):
        return table, errors + check.errors
    table.sources = _sources(check, data.get("sources"))
    planned = data.get("planned") or []
    if not isinstance(planned, list) or not all(isinstance(p, str) for p in planned):
        check.error(("planned",), "must be a list of codes")
        planned = []
    table.planned = frozenset(planned)
    missing = data.get("missing") or {}
    if not isinstance(missing, dict):
        check.error(("missing",), "must map codes to why no code was verified")
        missing = {}
    for ours, why in missing.items():
        if not isinstance(why, str) or not why.strip():
            check.error(("missing", str(ours)), "must say why no code was verified")
        table.missing[str(ours)] = str(why or "").strip()
    entries = data.get(entries_key) or {}
    if not isinstance(entries, dict):
        check.error((entries_key,), "must map our codes to lists of verified codes")
        entries = {}
    pattern = CCAM_CODE if kind == "ccam" else ICD10
    for ours, items in entries.items():
        path: Path_ = (entries_key, str(ours))
        if not SLUG.match(str(ours)):
            check.error(path, "must be a slug (an exam or indication code of ours)")
        if str(ours) in table.missing:
            check.error(path, "is also listed under `missing`")
        if not isinstance(items, list) or not items:
            check.error(path, "must be a non-empty list")
            continue
        verified: list[VerifiedCode] = []
        for index, item in enumerate(items):
            row = _entry(check, item, (*path, index), pattern, table.sources)
            if row is None:
                continue
            if row.code in {v.code for v in verified}:
                check.error((*path, index, "code"), f"{row.code} is given twice")
            verified.append(row)
        table.entries[str(ours)] = verified
    return table, errors + check.errors


def _sources(check: _Checker, raw: Any) -> dict[str, CodeSource]:
    out: dict[str, CodeSource] = {}
    if not isinstance(raw, dict) or not raw:
        check.error(("sources",), "must name at least one source")
        return out
    for key, source in raw.items():
        path: Path_ = ("sources", str(key))
        if not check.mapping(source, path, SOURCE_KEYS, {"document", "year"}):
            continue
        document = check.text(source, "document", path)
        year = check.integer(source, "year", path, 1900, 2100)
        url = check.text(source, "url", path, required=False)
        repo = check.text(source, "repo", path, required=False)
        where = check.text(source, "path", path, required=False)
        if url and not re.match(r"^https?://\S+$", url):
            check.error((*path, "url"), "must be an http(s) address")
        if not url and not (repo and where):
            check.error(path, "must give a url, or a repo and a path")
        out[str(key)] = CodeSource(
            key=str(key),
            document=document,
            year=year or 0,
            url=url,
            repo=repo,
            path=where,
            commit=check.text(source, "commit", path, required=False),
        )
    return out


def _entry(
    check: _Checker,
    item: Any,
    path: Path_,
    pattern: re.Pattern[str],
    sources: dict[str, CodeSource],
) -> VerifiedCode | None:
    if not check.mapping(item, path, ENTRY_KEYS, ENTRY_KEYS):
        return None
    code = check.text(item, "code", path)
    label = check.text(item, "label", path)
    if code and not pattern.match(code):
        check.error((*path, "code"), f"not a {'CCAM' if pattern is CCAM_CODE else 'CIM-10'} code")
    keys = item.get("sources")
    if not isinstance(keys, list) or not keys:
        check.error((*path, "sources"), "must list the sources it was seen in")
        keys = []
    found: list[CodeSource] = []
    for key in keys:
        if key in sources:
            found.append(sources[key])
        else:
            check.error((*path, "sources"), f"unknown source {key!r}")
    return VerifiedCode(code=code, label=label, sources=tuple(found))


def code_tables_parse(
    *,
    procedures: Iterable[str],
    indications: Iterable[str],
    ccam_file: Path = CCAM_FILE,
    cim10_file: Path = CIM10_FILE,
    unknown_waits: bool = False,
) -> CodeTables:
    """Both files, checked against the catalogue's exam and indication codes.

    Raises RulePackInvalid with every error of both files. With `unknown_waits` (a
    report on an older rule set) an entry for a code the set lacks waits instead."""
    known: dict[Kind, set[str]] = {"ccam": set(procedures), "cim10": set(indications)}
    errors: list[PackError] = []
    tables: dict[Kind, CodeTable] = {}
    files: tuple[tuple[Kind, Path], ...] = (("ccam", ccam_file), ("cim10", cim10_file))
    for kind, path in files:
        name = f"codes/{path.name}"
        table, found = code_table_parse(path.read_text(encoding="utf-8"), name, kind)
        errors.extend(found)
        what = "exam" if kind == "ccam" else "indication"
        for ours in [*table.entries, *table.missing]:
            if ours in known[kind]:
                continue
            if ours in table.planned or unknown_waits:
                if ours in table.entries:
                    table.waiting.append(ours)
                continue
            errors.append(
                PackError(
                    name,
                    None,
                    ours,
                    f"unknown {what} {ours!r}: not in the catalogue nor listed under `planned`",
                )
            )
        tables[kind] = table
    if errors:
        raise RulePackInvalid(errors)
    return CodeTables(ccam=tables["ccam"], cim10=tables["cim10"])


def indication_codes_merge(pack_codes: Sequence[str], verified: Sequence[str]) -> list[str]:
    """The pack file's codes, then the verified ones it lacks (order kept, no repeat)."""
    out = list(pack_codes)
    out += [code for code in verified if code not in out]
    return out
