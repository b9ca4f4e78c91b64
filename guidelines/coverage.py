"""How well the rule set in force covers a site's order texts: each exported text
read by guidelines.understanding, the share that finds a situation, the share with
a suggestion that is not sure, the share with nothing, the indications found, and
what was left unread grouped by its most frequent phrases (what the rule pack's
synonyms or a new indication should say)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from guidelines.engine import CompiledRuleSet
from guidelines.resolve import STOPWORDS
from guidelines.understanding import Understanding, fold, tokens, understand
from guidelines.understanding.facts import ORDER_WORDS

TEXT_COLUMNS = ("text", "texte")
MAX_PHRASE_WORDS = 3
TOP = 20
EXAMPLES = 2
EXAMPLE_CHARS = 120


class OrderFileError(ValueError):
    """The file cannot be read as a CSV of order texts; the message says why."""


def order_texts_read(path: Path) -> list[str]:
    """The texts of a CSV export: the `text` column when the first row names one,
    else the first column; UTF-8 with or without BOM; `;` or `,` sniffed (a file
    with neither is one text per line)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise OrderFileError(f"{path}: no such file.") from None
    except OSError as error:
        raise OrderFileError(f"{path}: cannot be read ({error.strerror}).") from None
    if b"\x00" in raw:
        raise OrderFileError(f"{path}: not a CSV file (binary content).")
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OrderFileError(f"{path}: not UTF-8 text; export the CSV as UTF-8.") from None
    if not content.strip():
        raise OrderFileError(f"{path}: the file is empty.")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            content[:8192], delimiters=";,"
        )
    except csv.Error:
        dialect = _OneColumn
    try:
        rows = [row for row in csv.reader(io.StringIO(content), dialect) if row]
    except csv.Error as error:
        raise OrderFileError(f"{path}: not a readable CSV file ({error}).") from None
    column = 0
    header = [cell.strip().casefold() for cell in rows[0]]
    named = [i for i, cell in enumerate(header) if cell in TEXT_COLUMNS]
    if named:
        column, rows = named[0], rows[1:]
    texts = [row[column].strip() for row in rows if len(row) > column and row[column].strip()]
    if not texts:
        raise OrderFileError(f"{path}: no order text found.")
    return texts


class _OneColumn(csv.excel):
    # A file without `;` or `,` holds one text per line.
    delimiter = "\t"
    quoting = csv.QUOTE_NONE


@dataclass(frozen=True)
class IndicationCount:
    code: str
    label_fr: str
    label_en: str
    count: int


@dataclass(frozen=True)
class PhraseGroup:
    phrase: str
    count: int  # texts whose most frequent unmatched phrase it is
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Coverage:
    total: int
    understood: int
    unsure: int
    nothing: int
    indications: tuple[IndicationCount, ...]
    unmatched: tuple[PhraseGroup, ...]

    def share(self, count: int) -> float:
        return 100.0 * count / self.total if self.total else 0.0

    @property
    def understood_share(self) -> float:
        return self.share(self.understood)

    @property
    def unsure_share(self) -> float:
        return self.share(self.unsure)

    @property
    def nothing_share(self) -> float:
        return self.share(self.nothing)


def coverage_compute(texts: Sequence[str], rules: CompiledRuleSet) -> Coverage:
    readings = [understand(text, rules) for text in texts]
    found = Counter(r.indication_code for r in readings if r.indication_code)
    indications = []
    for code, count in found.most_common(TOP):
        info = rules.indication(code)
        indications.append(
            IndicationCount(
                code=code,
                label_fr=info.label_fr if info else code,
                label_en=info.label_en if info else code,
                count=count,
            )
        )
    return Coverage(
        total=len(readings),
        understood=sum(1 for r in readings if r.understood),
        unsure=sum(1 for r in readings if r.suggestions and not r.understood),
        nothing=sum(1 for r in readings if not r.suggestions),
        indications=tuple(indications),
        unmatched=unmatched_groups(readings),
    )


def _unread_runs(reading: Understanding) -> list[list[str]]:
    """The runs of consecutive words left unread: the unused words of an understood
    text, every meaningful word of a text that was not."""
    unused = set(reading.unused)
    runs: list[list[str]] = [[]]
    for word in tokens(fold(reading.text)):
        meaningful = word not in STOPWORDS and word not in ORDER_WORDS and len(word) > 2
        keep = meaningful and not word.isdigit() and (not reading.understood or word in unused)
        if keep:
            runs[-1].append(word)
        elif word not in STOPWORDS and runs[-1]:
            # A stop word ("de", "du") may sit inside a phrase; anything else ends it.
            runs.append([])
    return [run for run in runs if run]


def _phrases(runs: Iterable[list[str]]) -> set[str]:
    found = set()
    for run in runs:
        for size in range(1, MAX_PHRASE_WORDS + 1):
            for start in range(len(run) - size + 1):
                found.add(" ".join(run[start : start + size]))
    return found


def unmatched_groups(readings: Sequence[Understanding]) -> tuple[PhraseGroup, ...]:
    """Each text with words left unread goes to its phrase (1 to 3 words, folded) found
    in the most texts, the longer phrase on a tie; the groups, largest first."""
    per_text = [(r.text, _phrases(_unread_runs(r))) for r in readings]
    frequency = Counter(phrase for _, phrases in per_text for phrase in phrases)
    groups: dict[str, list[str]] = {}
    for text, phrases in per_text:
        if not phrases:
            continue
        best = max(phrases, key=lambda p: (frequency[p], len(p.split()), p))
        groups.setdefault(best, []).append(text)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:TOP]
    return tuple(
        PhraseGroup(
            phrase=phrase,
            count=len(texts),
            examples=tuple(_shortened(t) for t in texts[:EXAMPLES]),
        )
        for phrase, texts in ordered
    )


def _shortened(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"
