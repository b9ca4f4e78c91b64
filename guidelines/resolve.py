"""From what a prescriber types to ranked candidate indications.

Accepts a CIM-10 (ICD-10) code, a SNOMED CT concept id, or free text in French
or English. Free text is folded (case, accents, punctuation), plurals are
reduced, a few common synonyms are expanded, and each word is matched exactly,
as a prefix (the word being typed) or within a small edit distance (typos).
The index is built once per compiled rule set and kept on it, so a keystroke
costs a few dictionary look-ups, not a scan of the catalogue.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from guidelines.engine import CompiledRuleSet, IndicationInfo

ICD10_QUERY = re.compile(r"^[A-Za-z][0-9]{2}(?:\.?[0-9A-Za-z]{1,4})?$")
SNOMED_QUERY = re.compile(r"^[0-9]{6,18}$")
_STOPWORDS_FR = "a au aux d de des du en et l la le les ou par pour sur un une chez avec sans"
_STOPWORDS_EN = "an and at by for in of on or the to with without"
STOPWORDS = frozenset((_STOPWORDS_FR + " " + _STOPWORDS_EN).split(" "))
# Everyday words a prescriber types for the guide's terms (folded forms).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "mal": ("douleur",),
    "tete": ("cephalee", "headache"),
    "migraine": ("cephalee", "headache"),
    "ventre": ("abdominal", "abdomen"),
    "belly": ("abdominal",),
    "tummy": ("abdominal",),
    "dos": ("lombalgie", "rachis", "back"),
    "lumbago": ("lombalgie",),
    "pain": ("douleur",),
    "douleur": ("pain",),
    "calcul": ("lithiase", "stone"),
    "stone": ("lithiase", "calcul"),
    "kidney": ("renal", "rein"),
    "rein": ("renal", "kidney"),
    "avc": ("accident", "vasculaire", "stroke"),
    "stroke": ("avc",),
    "ep": ("embolie", "pulmonaire"),
    "pe": ("embolism", "pulmonary"),
    "tvp": ("thrombose", "veineuse"),
    "dvt": ("thrombosis", "vein"),
    "scan": ("scanner", "ct"),
    "irm": ("mri",),
}
MAX_RESULTS = 10


def fold(text: str) -> str:
    """Lower case, no accents, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", bare.replace("œ", "oe").replace("æ", "ae")).strip()


def stem(word: str) -> str:
    """Reduce French and English plurals: douleurs, céphalées, maux -> mal, stones."""
    if len(word) > 4 and word.endswith("aux"):
        return word[:-3] + "al"
    if len(word) > 3 and word[-1] in "sx" and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return [stem(w) for w in fold(text).split() if w not in STOPWORDS]


def _trigrams(word: str) -> set[str]:
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment), stopping early past `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


@dataclass(frozen=True)
class Candidate:
    indication: IndicationInfo
    score: float  # 0..1
    matched: str  # what matched: a code, a label or a synonym

    @property
    def code(self) -> str:
        return self.indication.code


@dataclass
class ResolverIndex:
    indications: dict[str, IndicationInfo] = field(default_factory=dict)
    icd10: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    snomed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # Each phrase (label or synonym): its indication, its words, its text.
    phrases: list[tuple[str, frozenset[str], str]] = field(default_factory=list)
    postings: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    by_trigram: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_prefix: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    memo: dict[str, dict[str, float]] = field(default_factory=dict)


def index_build(indications: list[IndicationInfo]) -> ResolverIndex:
    index = ResolverIndex()
    for info in indications:
        index.indications[info.code] = info
        for code in info.icd10_codes:
            index.icd10[code.upper().replace(".", "")].append(info.code)
        for code in info.snomed_codes:
            index.snomed[str(code)].append(info.code)
        texts = [info.label_fr, info.label_en, *info.synonyms, info.code.replace("-", " ")]
        for text in texts:
            phrase_words = frozenset(words(text))
            if not phrase_words:
                continue
            number = len(index.phrases)
            index.phrases.append((info.code, phrase_words, text))
            for word in phrase_words:
                index.postings[word].add(number)
    for word in index.postings:
        for gram in _trigrams(word):
            index.by_trigram[gram].add(word)
        for length in range(2, len(word)):
            index.by_prefix[word[:length]].add(word)
    return index


def _index_for(rules: CompiledRuleSet) -> ResolverIndex:
    if not rules._resolver:
        indications = [entry.indication for entry in rules.entries.values()]
        rules._resolver.append(index_build(indications))
    index = rules._resolver[0]
    assert isinstance(index, ResolverIndex)
    return index


def _word_matches(index: ResolverIndex, word: str) -> dict[str, float]:
    """Vocabulary words this query word may stand for, with a weight 0..1."""
    found = index.memo.get(word)
    if found is not None:
        return found
    found = {}
    if word in index.postings:
        found[word] = 1.0
    if len(word) >= 2:
        for longer in index.by_prefix.get(word, ()):
            found.setdefault(longer, 0.85)
    if len(word) >= 4:
        limit = 1 if len(word) < 8 else 2
        grams = _trigrams(word)
        shared: dict[str, int] = defaultdict(int)
        for gram in grams:
            for candidate in index.by_trigram.get(gram, ()):
                shared[candidate] += 1
        for candidate, count in shared.items():
            if candidate in found or count < max(1, len(grams) // 3):
                continue
            if _edit_distance(word, candidate, limit) <= limit:
                found[candidate] = 0.7
    for synonym in map(stem, SYNONYMS.get(word, ())):
        if synonym in index.postings:
            found.setdefault(synonym, 0.9)
    if len(index.memo) < 50_000:
        index.memo[word] = found
    return found


def resolve(query: str, rules: CompiledRuleSet, *, limit: int = MAX_RESULTS) -> list[Candidate]:
    """Ranked candidate indications for a code or free text; best first."""
    index = _index_for(rules)
    text = query.strip()
    if not text:
        return []
    if SNOMED_QUERY.match(text):
        return [Candidate(index.indications[c], 1.0, text) for c in index.snomed.get(text, [])]
    if ICD10_QUERY.match(text):
        by_code = _resolve_icd10(index, text)
        if by_code:
            return by_code[:limit]
    query_words = words(text)
    if not query_words:
        return []
    best: dict[str, tuple[float, str]] = {}
    matches = [_word_matches(index, w) for w in query_words]
    scores: dict[int, float] = defaultdict(float)
    for weights in matches:
        per_phrase: dict[int, float] = {}
        for word, weight in weights.items():
            for number in index.postings[word]:
                if weight > per_phrase.get(number, 0.0):
                    per_phrase[number] = weight
        for number, weight in per_phrase.items():
            scores[number] += weight
    for number, total in scores.items():
        code, phrase_words, phrase = index.phrases[number]
        coverage = total / len(query_words)
        # Prefer phrases the query covers whole: "appendicite" over a long label.
        score = 0.85 * coverage + 0.15 * min(1.0, total / len(phrase_words))
        if score > best.get(code, (0.0, ""))[0]:
            best[code] = (score, phrase)
    ranked = heapq.nsmallest(limit, best.items(), key=lambda item: (-item[1][0], item[0]))
    return [
        Candidate(index.indications[code], round(score, 3), phrase)
        for code, (score, phrase) in ranked
        if score >= 0.5
    ]


def _resolve_icd10(index: ResolverIndex, text: str) -> list[Candidate]:
    """Exact code first, then its parent category (K35.8 -> K35), then its children."""
    code = text.upper().replace(".", "")
    out: dict[str, Candidate] = {}
    for indication in index.icd10.get(code, []):
        out[indication] = Candidate(index.indications[indication], 1.0, text.upper())
    parent = code[:3]
    for indication in index.icd10.get(parent, []):
        out.setdefault(indication, Candidate(index.indications[indication], 0.9, parent))
    for known, indications in index.icd10.items():
        if known.startswith(code) and known != code:
            for indication in indications:
                out.setdefault(indication, Candidate(index.indications[indication], 0.8, known))
    return sorted(out.values(), key=lambda c: (-c.score, c.code))
