"""Understanding what the prescriber wrote: French (or English) order text → ranked
indications with a confidence, the red flags stated present or absent, the risk
facts, age, sex, duration and side, and the words that were not used.

One stage, used by the prescriber page, the REST API and CDS Hooks. Built on
edsnlp (AP-HP's French clinical NLP library: normaliser, term matcher, negation,
hypothesis, dates; rule-based, no model to download), BM25 (bm25s) over each
indication's labels and synonyms, and rapidfuzz for typos. A word that matches
nothing lowers the confidence; it never empties the answer. Below
:data:`MIN_CONFIDENCE` nothing is offered as *the* indication: the nearest
situations are offered as such, and the answer says "no guideline applies".

Everything it reads comes from the compiled rule set (labels, synonyms, red flags
and their words, duration ranges), so an editor's new synonym works as soon as
the set is published. The index is built once per compiled set and kept on it.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guidelines.engine import CompiledRuleSet, IndicationInfo
from guidelines.resolve import ICD10_QUERY, SNOMED_QUERY, STOPWORDS, resolve, stem
from guidelines.understanding.facts import (
    ORDER_WORDS,
    RISK_WORDS,
    StatedFacts,
    is_adult,
    is_child,
    stated_facts,
)

# Offered as the indication only from this confidence up (tuned on the evaluation
# set, guidelines/data/understanding/eval_orders.yaml, to keep confident errors rare).
MIN_CONFIDENCE = 0.6
MAX_SUGGESTIONS = 5
# Below this lead over the runner-up, the best situation loses confidence.
AMBIGUITY_MARGIN = 0.15
MAX_TEXT = 2000  # characters read; a longer text is cut (and the answer says so)
PAEDIATRIC_AREA = "paediatrics"
ADULT_AGE = 16


@dataclass(frozen=True)
class Suggestion:
    code: str
    label_fr: str
    label_en: str
    confidence: float  # 0..1
    matched: str  # the words of the text the match rests on


@dataclass(frozen=True)
class Understanding:
    """What a text says; ``Understanding(text="")`` is "nothing understood"."""

    text: str
    suggestions: tuple[Suggestion, ...] = ()
    understood: bool = False  # the first suggestion is sure enough to be the indication
    # Per suggested indication: (red flags stated present, stated absent).
    red_flags: Mapping[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    risks: frozenset[str] = frozenset()
    risks_absent: frozenset[str] = frozenset()
    facts: StatedFacts = field(default_factory=StatedFacts)
    unused: tuple[str, ...] = ()  # words of the text that took part in nothing
    from_code: bool = False  # the text was a CIM-10 / SNOMED CT code
    truncated: bool = False

    @property
    def indication_code(self) -> str | None:
        return self.suggestions[0].code if self.understood and self.suggestions else None

    def flags_for(self, code: str) -> tuple[frozenset[str], frozenset[str]]:
        return self.red_flags.get(code, (frozenset(), frozenset()))

    def as_record(self) -> dict[str, Any]:
        """What was understood, as plain data for the record and the answers: never
        the text itself (it may name the patient)."""
        code = self.indication_code
        present, absent = self.flags_for(code) if code else (frozenset(), frozenset())
        facts = self.facts
        return {
            "understood": self.understood,
            "indication_code": code,
            "from_code": self.from_code,
            "suggestions": [
                {
                    "code": s.code,
                    "label_fr": s.label_fr,
                    "label_en": s.label_en,
                    "confidence": s.confidence,
                }
                for s in self.suggestions
            ],
            "red_flags_present": sorted(present),
            "red_flags_absent": sorted(absent),
            "risks": sorted(self.risks),
            "risks_absent": sorted(self.risks_absent),
            "facts": {
                "age_years": facts.age_years,
                "sex": facts.sex,
                "duration_days": facts.duration_days,
                "onset": facts.onset,
                "laterality": facts.laterality,
                "hypothesis": facts.hypothesis,
                "no_red_flags_stated": facts.no_red_flags_stated,
            },
            "unused_words": list(self.unused),
            "truncated": self.truncated,
        }


# --- Text ----------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, no accents; letters, digits and the punctuation that carries meaning
    (apostrophes, "?", and the clause marks negation stops at) kept."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.replace("œ", "oe").replace("æ", "ae").replace("’", "'")
    # A comma or point between digits is a decimal ("38,5"), not a clause mark.
    bare = re.sub(r"[;:?]|(?<![0-9])[,.]|[,.](?![0-9])", lambda m: f" {m.group(0)} ", bare)
    return re.sub(r"[^a-z0-9'?,;.:]+", " ", bare).strip()


def tokens(folded: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", folded)


def terms(folded: str) -> list[str]:
    """Index terms: no stop words, plurals reduced (as guidelines.resolve)."""
    return [stem(t) for t in tokens(folded) if t not in STOPWORDS and len(t) > 1]


# --- The index --------------------------------------------------------------------------


@dataclass
class _Index:
    infos: dict[str, IndicationInfo]
    codes: list[str]  # BM25 document i is the indication codes[i]
    retriever: Any  # bm25s.BM25
    vocabulary: dict[str, int]  # term -> id, as the retriever knows it
    idf: dict[str, float]
    phrases: dict[str, list[tuple[str, tuple[str, ...]]]]  # code -> [(text, terms)]
    document_terms: dict[str, frozenset[str]]  # code -> every term of its phrases
    known: list[str]  # every word the matcher or the ranking can use (typo targets)
    known_set: frozenset[str]
    matchers: tuple[Any, ...]  # edsnlp term matchers of this vocabulary
    phrase_codes: dict[str, frozenset[str]]  # matcher label -> indication codes
    flag_terms: dict[str, tuple[str, str, bool]]  # label -> (indication, flag, says absent)
    risk_terms: dict[str, str]  # label -> risk code
    corrections: dict[str, str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_GROUPS = {"ind": True, "flag": True, "risk": True}
_base: list[Any] = []  # (language, qualifiers, dates): built once per process
_base_lock = threading.Lock()


def _shared() -> Any:
    """The language and the vocabulary-free pipes, built once per process (a few
    seconds: spaCy's French language data), shared by every index."""
    if not _base:
        with _base_lock:
            if not _base:
                import edsnlp
                import edsnlp.pipes as eds

                nlp = edsnlp.blank("eds")
                nlp.add_pipe(eds.sentences())
                nlp.add_pipe(eds.normalizer())
                after = (
                    eds.negation(nlp=nlp, span_getter=_GROUPS),
                    eds.hypothesis(nlp=nlp, span_getter=_GROUPS),
                    eds.dates(nlp=nlp),
                )
                _base.append((nlp, after))
    return _base[0]


def _matchers(
    phrase_terms: dict[str, list[str]],
    flag_terms: dict[str, list[str]],
    risk_terms: dict[str, list[str]],
) -> tuple[Any, ...]:
    """One edsnlp term matcher per span group, so that a red flag or a risk word inside
    an indication's words ("traumatisme" in "traumatisme crânien") is read too."""
    import edsnlp.pipes as eds

    nlp, _after = _shared()
    return tuple(
        eds.matcher(
            nlp=nlp,
            name=f"match_{name}",
            terms=found,
            attr="NORM",
            span_setter={name: True},
        )
        for name, found in (("ind", phrase_terms), ("flag", flag_terms), ("risk", risk_terms))
    )


def _read(index: _Index, text: str) -> Any:
    nlp, after = _shared()
    doc = nlp(text)
    for pipe in (*index.matchers, *after):
        doc = pipe(doc)
    return doc


def index_build(infos: list[IndicationInfo]) -> _Index:
    import bm25s

    codes = [info.code for info in infos]
    documents: list[list[str]] = []
    phrases: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    phrase_terms: dict[str, list[str]] = {}
    phrase_codes: dict[str, set[str]] = defaultdict(set)
    by_text: dict[str, str] = {}
    flag_terms: dict[str, list[str]] = {}
    flag_meaning: dict[str, tuple[str, str, bool]] = {}
    known: set[str] = set()
    for info in infos:
        texts = [info.label_fr, info.label_en, *info.synonyms]
        phrases[info.code] = [(t, tuple(terms(fold(t)))) for t in texts if terms(fold(t))]
        # Labels and synonyms twice: they say what the situation is.
        document = [t for _, words in phrases[info.code] for t in words]
        documents.append(document * 2)
        for text in texts:
            key = fold(text)
            if not key:
                continue
            label = by_text.setdefault(key, f"i{len(by_text)}")
            phrase_terms.setdefault(label, [text])
            phrase_codes[label].add(info.code)
            known.update(tokens(key))
        for flag in info.red_flag_words:
            code, words, absent = flag.code, flag.words, flag.absent_words
            for number, (group, says_absent) in enumerate(((words, False), (absent, True))):
                if not group:
                    continue
                label = f"f{len(flag_terms)}_{number}"
                flag_terms[label] = list(group)
                flag_meaning[label] = (info.code, code, says_absent)
                for word in group:
                    known.update(tokens(fold(word)))
    risk_terms = {f"k_{code}": list(words) for code, words in RISK_WORDS.items()}
    for words in RISK_WORDS.values():
        for word in words:
            known.update(tokens(fold(word)))
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenization.Tokenized(*_ids(documents)), show_progress=False)
    vocabulary = _ids(documents)[1]
    counts: dict[str, int] = defaultdict(int)
    for document in documents:
        for term in set(document):
            counts[term] += 1
    total = max(1, len(documents))
    idf = {term: math.log(1 + total / count) for term, count in counts.items()}
    known_words = sorted(w for w in known if len(w) >= 3)
    return _Index(
        infos={info.code: info for info in infos},
        codes=codes,
        retriever=retriever,
        vocabulary=vocabulary,
        idf=idf,
        phrases=phrases,
        document_terms={c: frozenset(t for _, ws in p for t in ws) for c, p in phrases.items()},
        known=known_words,
        known_set=frozenset(known),
        matchers=_matchers(phrase_terms, flag_terms, risk_terms),
        phrase_codes={label: frozenset(found) for label, found in phrase_codes.items()},
        flag_terms=flag_meaning,
        risk_terms={label: label[2:] for label in risk_terms},
    )


def _ids(documents: list[list[str]]) -> tuple[list[list[int]], dict[str, int]]:
    vocabulary: dict[str, int] = {}
    ids = [[vocabulary.setdefault(t, len(vocabulary)) for t in doc] for doc in documents]
    return ids, vocabulary


_build_lock = threading.Lock()


def index_for(rules: CompiledRuleSet) -> _Index:
    """The index of a compiled rule set, built on first use and kept on it."""
    if not rules._understanding:
        with _build_lock:
            if not rules._understanding:
                infos = [entry.indication for entry in rules.entries.values()]
                rules._understanding.append(index_build(infos))
    index = rules._understanding[0]
    assert isinstance(index, _Index)
    return index


# --- Reading a text -------------------------------------------------------------------


# Everyday words a GP writes around the clinical ones (folded forms). They are never
# typos of a clinical term: "tous les jours" must not be read as "toux".
_EVERYDAY = (
    "tous tout toute toutes depuis mais donc plus moins tres peu fois jour jours mois "
    "semaine semaines annee annees pas non oui est sont elle elles ils son ses leur "
    "leurs dans apres avant lors cette ces qui que comme aussi bien encore deja "
    "matin soir nuit hier quand puis alors sous entre vers "
    "this that from since days weeks months years very more less not after before "
    "also still when then some every daily"
)
EVERYDAY_WORDS = frozenset(_EVERYDAY.split(" "))


def _corrected(index: _Index, word: str) -> str | None:
    """The known word a typed word stands for (typos), or None."""
    if word in index.known_set or len(word) < 4 or word.isdigit() or word in EVERYDAY_WORDS:
        return word if word in index.known_set else None
    found = index.corrections.get(word, "")
    if found != "":
        return found
    from rapidfuzz import fuzz, process

    # A word cut short ("pneumo", "abdo") stands for the shortest known word it starts.
    longer = [k for k in index.known if k.startswith(word)]
    if longer:
        result: str | None = min(longer, key=lambda k: (len(k), k))
    else:
        match = process.extractOne(
            word, index.known, scorer=fuzz.ratio, score_cutoff=84 if len(word) < 7 else 80
        )
        result = str(match[0]) if match else None
    with index.lock:
        if len(index.corrections) < 100_000:
            index.corrections[word] = result
    return result


def _bm25(index: _Index, query: list[str]) -> dict[str, float]:
    ids = [index.vocabulary[t] for t in query if t in index.vocabulary]
    if not ids:
        return {}
    scores = index.retriever.get_scores(ids)
    return {index.codes[i]: float(s) for i, s in enumerate(scores) if s > 0}


def _coverage(index: _Index, code: str, query: set[str]) -> tuple[float, str]:
    """How much of the indication's best phrase the text says, by term weight."""
    best, said = 0.0, ""
    for text, words in index.phrases.get(code, []):
        weight = sum(index.idf.get(w, 1.0) for w in words)
        have = sum(index.idf.get(w, 1.0) for w in words if w in query)
        share = have / weight if weight else 0.0
        if share > best:
            best, said = share, text
    return best, said


def _fits(info: IndicationInfo, facts: StatedFacts, child: bool, adult: bool) -> float:
    """A factor below 1 when what the text states contradicts the situation."""
    factor = 1.0
    paediatric = info.area == PAEDIATRIC_AREA
    if adult and paediatric and facts.age_years is None:
        factor *= 0.5
    if facts.age_years is not None:
        if paediatric and facts.age_years >= ADULT_AGE:
            factor *= 0.5
        if not paediatric and facts.age_years < ADULT_AGE and _has_paediatric_twin(info):
            factor *= 0.5
    elif child and not paediatric and _has_paediatric_twin(info):
        factor *= 0.5
    if facts.sex == "M" and info.area == "gynaecology":
        factor *= 0.5
    bounds = info.duration_days
    if bounds:
        low, high = bounds
        days = facts.duration_days
        if days is not None:
            if not info.duration_fits(days):
                factor *= 0.6
        elif (facts.onset == "chronic" and high is not None and low is None) or (
            facts.onset == "acute" and low is not None
        ):
            factor *= 0.7
    return factor


def _has_paediatric_twin(info: IndicationInfo) -> bool:
    # Adult situations whose code says so have a child counterpart in the pack.
    return info.code.endswith("-adult")


# Negation as prescribers write it in English (edsnlp's cues are French), and the
# French ones a short order uses without a verb ("non fumeur", "ni déficit").
_NEGATION_BEFORE = frozenset(
    [
        "no",
        "not",
        "without",
        "denies",
        "denied",
        "negative",
        "nil",
        "non",
        "pas",
        "sans",
        "aucun",
        "aucune",
        "ni",
        "absence",
    ]
)
_NEGATION_AFTER = frozenset(
    ["absent", "absente", "absents", "absentes", "negatif", "negative", "negatifs"]
)
_CLAUSE_END = frozenset([",", ";", ".", ":", "mais", "but", "avec", "with", "et", "and"])


def _negated(span: Any) -> bool:
    """edsnlp's negation, or a cue in the few words before (or just after) the span,
    within its clause."""
    if span._.negation:
        return True
    doc = span.doc
    for token in reversed(doc[max(0, span.start - 4) : span.start]):
        word = fold(token.text)
        if token.text in _CLAUSE_END or word in _CLAUSE_END:
            break
        if word in _NEGATION_BEFORE:
            return True
    after = doc[span.end : span.end + 2]
    return any(fold(token.text) in _NEGATION_AFTER for token in after)


def _days(doc: Any) -> int | None:
    """How long, from edsnlp's dates ("depuis 10 jours", "il y a 3 semaines")."""
    for span in doc.spans.get("dates", []):
        date = span._.date
        if getattr(date, "mode", None) is None or str(date.mode) != "Mode.RELATIVE":
            continue
        parts = (("year", 365), ("month", 30), ("week", 7), ("day", 1), ("hour", 1 / 24))
        days = sum((getattr(date, name, None) or 0) * size for name, size in parts)
        if days:
            return max(0, round(abs(days)))
    return None


def understand(text: str, rules: CompiledRuleSet) -> Understanding:
    """Read an order text against a compiled rule set. Never raises on any text."""
    raw = (text or "").strip()
    truncated = len(raw) > MAX_TEXT
    raw = raw[:MAX_TEXT]
    index = index_for(rules)
    if not raw:
        return Understanding(text=raw, truncated=truncated)
    if SNOMED_QUERY.match(raw) or ICD10_QUERY.match(raw):
        found = resolve(raw, rules, limit=MAX_SUGGESTIONS)
        suggestions = tuple(
            Suggestion(c.code, c.indication.label_fr, c.indication.label_en, c.score, c.matched)
            for c in found
        )
        return Understanding(
            text=raw,
            suggestions=suggestions,
            understood=bool(suggestions) and suggestions[0].confidence >= 0.8,
            from_code=True,
            truncated=truncated,
        )
    folded = fold(raw)
    words = tokens(folded)
    fixed = {w: _corrected(index, w) for w in words}
    # Typos put right in place, punctuation kept: negation stops at a clause's end.
    corrected = re.sub(r"[a-z0-9]+", lambda m: fixed.get(m.group(0)) or m.group(0), folded)
    doc = _read(index, corrected)
    facts = stated_facts(folded, _days(doc))
    child, adult = is_child(folded), is_adult(folded)
    used: set[str] = set()

    def take(span: Any) -> None:
        used.update(tokens(fold(span.text)))

    named: dict[str, float] = defaultdict(float)
    for span in doc.spans.get("ind", []):
        take(span)
        for code in index.phrase_codes.get(span.label_, ()):
            # A negated mention earns nothing; it takes nothing away either: a negation
            # cue nearby ("bHCG négatifs") is not a denial of the situation.
            if not span._.negation:
                named[code] = max(named[code], len(tokens(fold(span.text))))
    flag_hits: list[tuple[str, str, bool]] = []
    for span in doc.spans.get("flag", []):
        take(span)
        indication, flag, says_absent = index.flag_terms[span.label_]
        flag_hits.append((indication, flag, says_absent != _negated(span)))
    risks: set[str] = set()
    risks_absent: set[str] = set()
    for span in doc.spans.get("risk", []):
        take(span)
        code = index.risk_terms[span.label_]
        (risks_absent if _negated(span) else risks).add(code)
    query = [stem(t) for t in tokens(corrected) if t not in STOPWORDS and len(t) > 1]
    query_set = set(query)
    bm25 = _bm25(index, query)
    candidates = set(sorted(bm25, key=lambda c: -bm25[c])[:25]) | set(named)
    top = max(bm25.values(), default=0.0) or 1.0
    # The words that may name the situation: not those that said a red flag, a risk
    # or the form of the order ("depuis", "sans"...).
    side_words = {stem(w) for w in used} | {stem(w) for w in ORDER_WORDS}
    naming = [w for w in dict.fromkeys(query) if w not in side_words or w in index.idf]
    # A word the vocabulary does not know weighs as much as its rarest word: it is
    # likely the very word that names a situation we have no guideline for.
    rare = max(index.idf.values(), default=1.0)
    weight = sum(index.idf.get(w, rare) for w in naming) or 1.0
    scored: list[tuple[float, str, str]] = []
    for code in candidates:
        info = index.infos.get(code)
        if info is None:
            continue
        cover, said = _coverage(index, code, query_set)
        terms_of = index.document_terms[code]
        explained = sum(index.idf.get(w, 1.0) for w in naming if w in terms_of) / weight
        relative = bm25.get(code, 0.0) / top
        score = (
            0.45 * max(cover, explained)
            + 0.25 * min(cover, explained)
            + 0.3 * relative
            + (0.1 if code in named else 0.0)
        )
        score *= _fits(info, facts, child, adult)
        scored.append((min(1.0, score), code, said))
    scored.sort(key=lambda item: (-item[0], item[1]))
    if scored:
        used.update(w for w in query_set if w in index.document_terms[scored[0][1]])
    # Two situations the words fit almost equally: neither is sure.
    if len(scored) > 1:
        margin = scored[0][0] - scored[1][0]
        doubt = 0.5 + 0.5 * min(1.0, margin / AMBIGUITY_MARGIN)
        scored = [(score * doubt, code, said) for score, code, said in scored]
    # Words that took part in nothing lower the confidence a little.
    meaningful = [
        w
        for w in words
        if w not in STOPWORDS and w not in ORDER_WORDS and len(w) > 2 and not w.isdigit()
    ]
    unused = tuple(
        w
        for w in dict.fromkeys(meaningful)
        if w not in used and stem(fixed[w] or w) not in used and (fixed[w] or w) not in used
    )
    penalty = 1.0 - 0.15 * min(1.0, len(unused) / max(1, len(meaningful)))
    suggestions = tuple(
        Suggestion(
            code=code,
            label_fr=index.infos[code].label_fr,
            label_en=index.infos[code].label_en,
            confidence=round(score * penalty, 3),
            matched=said,
        )
        for score, code, said in scored[:MAX_SUGGESTIONS]
        if score > 0.15
    )
    flags: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for suggestion in suggestions:
        present = {f for i, f, absent in flag_hits if i == suggestion.code and not absent}
        absent = {f for i, f, says in flag_hits if i == suggestion.code and says}
        flags[suggestion.code] = (frozenset(present - absent), frozenset(absent - present))
    return Understanding(
        text=raw,
        suggestions=suggestions,
        understood=bool(suggestions) and suggestions[0].confidence >= MIN_CONFIDENCE,
        red_flags=flags,
        risks=frozenset(risks - risks_absent),
        risks_absent=frozenset(risks_absent - risks),
        facts=facts,
        unused=unused,
        truncated=truncated,
    )
