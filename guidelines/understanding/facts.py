"""Facts a prescriber states beside the indication: age, sex, how long, which side,
and the risk facts that change an imaging decision. The words are language, not
clinical content: each risk fact maps to a flag the input contract already knows
(pregnancy, contrast allergy, MRI-unsafe implant, claustrophobia) or is shown to
the prescriber to confirm."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Risk facts read from the text, each with the words that state it (FR, EN).
RISK_WORDS: dict[str, tuple[str, ...]] = {
    "anticoagulant": (
        "anticoagulant",
        "anticoagulants",
        "anticoagule",
        "anticoagulee",
        "anticoagulation",
        "sous avk",
        "avk",
        "aod",
        "naco",
        "hbpm",
        "heparine",
        "warfarine",
        "warfarin",
        "fluindione",
        "previscan",
        "coumadine",
        "apixaban",
        "rivaroxaban",
        "dabigatran",
        "eliquis",
        "xarelto",
        "anticoagulated",
        "blood thinners",
    ),
    "pregnancy": (
        "enceinte",
        "grossesse en cours",
        "grossesse",
        "semaines d'amenorrhee",
        "pregnant",
        "pregnancy",
    ),
    "cancer-history": (
        "antecedent de cancer",
        "atcd de cancer",
        "atcd cancer",
        "antecedent de neoplasie",
        "cancer connu",
        "ancien cancer",
        "history of cancer",
        "previous cancer",
    ),
    "trauma": (
        "traumatisme",
        "trauma",
        "chute",
        "choc direct",
        "accident de la voie publique",
        "avp",
        "fall",
        "injury",
        "traumatique",
    ),
    "immunosuppression": (
        "immunodeprime",
        "immunodeprimee",
        "immunodepression",
        "immunosuppresseur",
        "immunosuppression",
        "vih",
        "chimiotherapie",
        "immunocompromised",
        "hiv",
    ),
    "contrast-allergy": (
        "allergie a l'iode",
        "allergie iode",
        "allergie aux produits de contraste",
        "allergie au produit de contraste",
        "allergie au gadolinium",
        "contrast allergy",
        "iodine allergy",
    ),
    "renal-failure": (
        "insuffisance renale",
        "irc",
        "dialyse",
        "renal failure",
        "kidney failure",
        "ckd",
    ),
    "mri-unsafe-implant": (
        "pacemaker",
        "pace maker",
        "stimulateur cardiaque",
        "defibrillateur",
        "neurostimulateur",
        "implant cochleaire",
        "defibrillator",
        "cochlear implant",
    ),
    "claustrophobia": ("claustrophobe", "claustrophobie", "claustrophobic", "claustrophobia"),
}
RISK_CODES = frozenset(RISK_WORDS)

# Words that say the prescriber found no red flag at all.
NO_RED_FLAG_WORDS = (
    "sans signe d'alerte",
    "sans signes d'alerte",
    "aucun signe d'alerte",
    "pas de signe d'alerte",
    "sans drapeau rouge",
    "sans drapeaux rouges",
    "aucun drapeau rouge",
    "pas de drapeau rouge",
    "sans signe de gravite",
    "sans signes de gravite",
    "sans critere de gravite",
    "no red flag",
    "no red flags",
    "without red flags",
)

HYPOTHESIS_WORDS = re.compile(
    r"\b(suspicion|suspecte|suspect|suspected|eliminer|recherche d|rule out|r/o|possible|"
    r"evoquant|evocateur|doute)\b|\?"
)
ACUTE_WORDS = re.compile(r"\b(aigu|aigue|aigus|aigues|acute|brutal|brutale|recent|recente)\b")
CHRONIC_WORDS = re.compile(r"\b(chronique|chroniques|chronic|persistant|persistante|ancienne)\b")

_UNIT_DAYS = {
    "h": 1 / 24,
    "heure": 1 / 24,
    "heures": 1 / 24,
    "hour": 1 / 24,
    "hours": 1 / 24,
    "j": 1,
    "jour": 1,
    "jours": 1,
    "day": 1,
    "days": 1,
    "sem": 7,
    "semaine": 7,
    "semaines": 7,
    "week": 7,
    "weeks": 7,
    "mois": 30,
    "month": 30,
    "months": 30,
    "an": 365,
    "ans": 365,
    "annee": 365,
    "annees": 365,
    "year": 365,
    "years": 365,
}
_DURATION = re.compile(
    r"\b(?:depuis|since|for|il y a|x|pendant|evoluant depuis|evolution de|datant de)\s*"
    r"(?:plus de |moins de |environ |about |over |more than )?"
    r"(\d{1,3}|un|une|deux|trois|quatre|cinq|six|a|one|two|three|four|five|six)\s*"
    r"(h|heures?|hours?|j|jours?|days?|sem|semaines?|weeks?|mois|months?|ans?|annees?|years?)\b"
)
_NUMBER_WORDS = {
    "un": 1,
    "une": 1,
    "a": 1,
    "one": 1,
    "deux": 2,
    "two": 2,
    "trois": 3,
    "three": 3,
    "quatre": 4,
    "four": 4,
    "cinq": 5,
    "five": 5,
    "six": 6,
}
_AGE = re.compile(
    r"\b(\d{1,3})\s*(?:ans|an|a|yo|y/o|years? old|year-old|-year-old)\b"
    r"|\b(?:age|agee?|aged)\s*(?:de\s*)?(\d{1,3})\b"
)
_SEX_AGE = re.compile(r"\b([hfm])\s*(\d{1,3})\s*(?:ans|an|a|y)?\b")
_FEMALE = re.compile(
    r"\b(femme|patiente|mme|madame|woman|female|fille|jeune fille|girl|lady|enceinte|pregnant)\b"
)
_MALE = re.compile(r"\b(homme|monsieur|mr|man|male|garcon|boy|gentleman)\b")
_CHILD = re.compile(r"\b(enfant|nourrisson|bebe|child|infant|toddler|baby)\b")
_ADULT = re.compile(r"\b(adulte|adultes|adult|adults)\b")
_RIGHT = re.compile(r"\b(droit|droite|droits|droites|dte|right)\b")
_LEFT = re.compile(r"\b(gauche|gauches|gche|left)\b")
_BOTH = re.compile(r"\b(bilateral|bilaterale|bilaterales|bilateraux|des deux cotes|both)\b")


@dataclass(frozen=True)
class StatedFacts:
    """What the text states besides the indication; None: not stated."""

    age_years: int | None = None
    sex: str | None = None  # "F" or "M"
    duration_days: int | None = None
    onset: str | None = None  # "acute" or "chronic", from words such as "aiguë"
    laterality: str | None = None  # "right", "left" or "bilateral"
    hypothesis: bool = False
    no_red_flags_stated: bool = False


def duration_days(folded: str) -> int | None:
    found = _DURATION.search(folded)
    if not found:
        return None
    number, unit = found.group(1), found.group(2)
    count = int(number) if number.isdigit() else _NUMBER_WORDS.get(number, 1)
    days = count * _UNIT_DAYS.get(unit, _UNIT_DAYS.get(unit.rstrip("s"), 1))
    return max(0, round(days))


def stated_facts(folded: str, days: int | None = None) -> StatedFacts:
    """Facts from folded text (lower case, no accents, apostrophes and "?" kept);
    ``days`` is the duration edsnlp read, if any (the abbreviations it does not
    read, "48h", "10j", are read here)."""
    age: int | None = None
    sex: str | None = None
    sex_age = _SEX_AGE.search(folded)
    if sex_age and not re.search(r"\d\s*h\b", sex_age.group(0)):
        sex = {"h": "M", "m": "M", "f": "F"}[sex_age.group(1)]
        age = int(sex_age.group(2))
    found_age = _AGE.search(folded)
    if age is None and found_age:
        age = int(found_age.group(1) or found_age.group(2))
    if age is not None and age > 120:
        age = None
    if sex is None:
        if _FEMALE.search(folded):
            sex = "F"
        elif _MALE.search(folded):
            sex = "M"
    onset = None
    if CHRONIC_WORDS.search(folded):
        onset = "chronic"
    elif ACUTE_WORDS.search(folded):
        onset = "acute"
    side = None
    if _BOTH.search(folded):
        side = "bilateral"
    else:
        right, left = bool(_RIGHT.search(folded)), bool(_LEFT.search(folded))
        side = "right" if right and not left else "left" if left and not right else None
    return StatedFacts(
        age_years=age,
        sex=sex,
        duration_days=days if days is not None else duration_days(folded),
        onset=onset,
        laterality=side,
        hypothesis=bool(HYPOTHESIS_WORDS.search(folded)),
        no_red_flags_stated=any(words in folded for words in NO_RED_FLAG_WORDS),
    )


def is_child(folded: str) -> bool:
    return bool(_CHILD.search(folded))


def is_adult(folded: str) -> bool:
    return bool(_ADULT.search(folded))


# Words of an order that carry the facts above or its form, not the situation: they
# are not "words that were not used".
ORDER_WORDS = frozenset(
    [
        "depuis",
        "since",
        "jours",
        "jour",
        "days",
        "day",
        "semaines",
        "semaine",
        "weeks",
        "week",
        "mois",
        "months",
        "month",
        "ans",
        "an",
        "years",
        "year",
        "heures",
        "heure",
        "hours",
        "sous",
        "chez",
        "patient",
        "patiente",
        "femme",
        "homme",
        "enfant",
        "adulte",
        "adult",
        "woman",
        "man",
        "child",
        "signe",
        "signes",
        "alerte",
        "drapeau",
        "drapeaux",
        "rouge",
        "rouges",
        "sign",
        "signs",
        "flag",
        "flags",
        "suspicion",
        "suspecte",
        "suspected",
        "eliminer",
        "recherche",
        "bilan",
        "examen",
        "exam",
        "normal",
        "normale",
        "connue",
        "connu",
        "known",
        "droite",
        "droit",
        "gauche",
        "right",
        "left",
        "bilateral",
        "aigue",
        "aigu",
        "acute",
        "chronique",
        "chronic",
        "recente",
        "recent",
        "brutal",
        "brutale",
        "environ",
        "about",
        "evoluant",
        "evolution",
        "merci",
        "svp",
        "please",
        "demande",
        "ago",
        "pas",
        "sans",
        "aucun",
        "aucune",
        "without",
        "absence",
        "notion",
    ]
)
