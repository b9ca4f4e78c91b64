"""What the prescriber page shows of what guidelines.understanding read in the order
text: the indication choices, the red flags of the chosen one, the stated facts and
risk facts as chips, and the words that were not used.

Nothing read is used silently. The decision takes only what the form submits (the
indication radio, the red-flag boxes, the patient fields); what was read only
pre-selects those, where the prescriber sees it and can change it. The page sends
back what it showed (the choice and the boxes the text ticked) so that a choice the
prescriber made by hand survives the next keystroke.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.timesince import TIME_STRINGS
from django.utils.translation import gettext_lazy as _

from guidelines.engine import CompiledRuleSet, NoPublishedRuleSet, published_rule_set_compiled
from guidelines.selectors import indication_red_flags
from guidelines.understanding import Understanding, understand
from guidelines.understanding.facts import StatedFacts

MAX_UNUSED_SHOWN = 12
MAX_WORD_SHOWN = 30

# Risk facts that have a patient-form field: (field, the value that says so).
RISK_FIELDS: dict[str, tuple[str, str]] = {
    "pregnancy": ("pregnancy", "yes"),
    "contrast-allergy": ("contrast_allergy", "on"),
    "mri-unsafe-implant": ("mri_unsafe_implant", "on"),
    "claustrophobia": ("claustrophobia", "on"),
}
RISK_LABELS: dict[str, Promise] = {
    "anticoagulant": _("on anticoagulants"),
    "pregnancy": _("pregnant"),
    "cancer-history": _("history of cancer"),
    "trauma": _("trauma"),
    "immunosuppression": _("immunosuppressed"),
    "contrast-allergy": _("Contrast agent allergy"),
    "renal-failure": _("renal failure"),
    "mri-unsafe-implant": _("MRI-unsafe implant"),
    "claustrophobia": _("Claustrophobia"),
}
SIDES: dict[str, Promise] = {
    "right": _("right side"),
    "left": _("left side"),
    "bilateral": _("both sides"),
}
ONSETS: dict[str, Promise] = {"acute": _("acute"), "chronic": _("chronic")}
SEXES: dict[str, Promise] = {"F": _("woman"), "M": _("man")}


@dataclass(frozen=True)
class PageState:
    """What the page held when it asked: the text, the indication ticked and the one
    the text had pre-selected, the red flags ticked, those the text had ticked and
    the indication they belong to, and the patient fields a risk fact maps to."""

    text: str = ""
    picked: str = ""
    read_indication: str = ""
    checked_flags: frozenset[str] = frozenset()
    read_flags: frozenset[str] = frozenset()
    flags_indication: str = ""
    patient: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Any) -> PageState:
        """From request.GET or request.POST (a QueryDict)."""
        return cls(
            text=str(data.get("indication_query", "")),
            picked=str(data.get("indication_code", ""))[:80],
            read_indication=str(data.get("read_indication", ""))[:80],
            checked_flags=frozenset(f[:80] for f in data.getlist("red_flags")[:50]),
            read_flags=frozenset(f[:80] for f in data.getlist("read_flags")[:50]),
            flags_indication=str(data.get("flags_indication", ""))[:80],
            patient={
                name: str(data.get(name, ""))[:20]
                for name, _value in RISK_FIELDS.values()
                if data.get(name)
            },
        )


@dataclass(frozen=True)
class Choice:
    code: str
    label_fr: str
    label_en: str
    checked: bool
    read: bool  # the text pointed to it with enough confidence


@dataclass(frozen=True)
class Flag:
    code: str
    label_fr: str
    label_en: str
    checked: bool
    read: str  # "present", "absent" (stated in the text) or ""


@dataclass(frozen=True)
class Risk:
    code: str
    label: str
    field: str  # the patient-form field it maps to, or ""
    field_label: str  # that field as the form labels it
    value_label: str  # the choice applying it selects ("Yes"), "" for a box to tick
    in_form: bool  # the form already says so


@dataclass(frozen=True)
class Chips:
    status: str  # "empty", "no-rules", "nothing", "unsure" or "understood"
    choices: tuple[Choice, ...] = ()
    indication_code: str = ""
    read_indication: str = ""
    flags: tuple[Flag, ...] = ()
    read_flags: frozenset[str] = frozenset()
    facts: StatedFacts = field(default_factory=StatedFacts)
    risks: tuple[Risk, ...] = ()
    risks_absent: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    truncated: bool = False
    from_code: bool = False

    @property
    def duration(self) -> str:
        return duration_text(self.facts.duration_days)

    @property
    def onset(self) -> str:
        return str(ONSETS.get(self.facts.onset or "", ""))

    @property
    def side(self) -> str:
        return str(SIDES.get(self.facts.laterality or "", ""))

    @property
    def sex(self) -> str:
        return str(SEXES.get(self.facts.sex or "", ""))

    @property
    def age(self) -> str:
        age = self.facts.age_years
        return "" if age is None else str(TIME_STRINGS["year"] % {"num": age})


def duration_text(days: int | None) -> str:
    """ "10 days", "3 weeks", "2 months" in the page's language (Django's own strings)."""
    if days is None:
        return ""
    for unit, size in (("year", 365), ("month", 30), ("week", 7)):
        if days >= size and days % size == 0:
            return str(TIME_STRINGS[unit] % {"num": days // size})
    if days == 0:
        return str(_("less than a day"))
    return str(TIME_STRINGS["day"] % {"num": days})


_NOTHING = Understanding(text="")


def chips_read(state: PageState) -> Chips:
    """Read the text and say what the page shows: never raises on any text."""
    if not state.text.strip() and not state.picked:
        return Chips(status="empty")
    try:
        rules = published_rule_set_compiled()
    except NoPublishedRuleSet:
        return Chips(status="no-rules")
    # A blank text needs no reading (and the first reading loads the language data).
    read = understand(state.text, rules) if state.text.strip() else _NOTHING
    choices, code = _choices(read, rules, state)
    flags, read_flags = _flags(read, code, state)
    if not read.text:
        status = "empty"
    elif not read.suggestions:
        status = "nothing"
    else:
        status = "understood" if read.understood else "unsure"
    return Chips(
        status=status,
        choices=choices,
        indication_code=code,
        read_indication=read.indication_code or "",
        flags=flags,
        read_flags=read_flags,
        facts=read.facts,
        risks=tuple(_risk(risk, state) for risk in sorted(read.risks)),
        risks_absent=tuple(str(RISK_LABELS[r]) for r in sorted(read.risks_absent)),
        unused=tuple(
            w if len(w) <= MAX_WORD_SHOWN else w[:MAX_WORD_SHOWN] + "…"
            for w in read.unused[:MAX_UNUSED_SHOWN]
        ),
        truncated=read.truncated,
        from_code=read.from_code,
    )


def _choices(
    read: Understanding, rules: CompiledRuleSet, state: PageState
) -> tuple[tuple[Choice, ...], str]:
    """The indications offered and the one ticked: the prescriber's own pick while the
    text still offers it (or offers nothing sure), else the one the text points to."""
    offered = [s.code for s in read.suggestions]
    by_hand = state.picked if state.picked != state.read_indication else ""
    if by_hand and rules.indication(by_hand) is not None:
        if by_hand in offered or read.indication_code is None:
            code = by_hand
        else:
            code = read.indication_code
    else:
        code = read.indication_code or ""
    if code and code not in offered:
        offered.insert(0, code)
    choices = []
    for each in offered:
        info = rules.indication(each)
        if info is None:
            continue
        choices.append(
            Choice(
                code=each,
                label_fr=info.label_fr,
                label_en=info.label_en,
                checked=each == code,
                read=each == read.indication_code,
            )
        )
    return tuple(choices), code


def _flags(
    read: Understanding, code: str, state: PageState
) -> tuple[tuple[Flag, ...], frozenset[str]]:
    """The red flags of the chosen indication: those the text states ticked, unless
    the prescriber unticked them; those ticked by hand stay ticked."""
    if not code:
        return (), frozenset()
    present, absent = read.flags_for(code)
    ticked = set(present)
    if state.flags_indication == code:
        ticked -= state.read_flags - state.checked_flags
        ticked |= state.checked_flags - state.read_flags
    flags = tuple(
        Flag(
            code=flag["code"],
            label_fr=flag.get("label_fr", flag["code"]),
            label_en=flag.get("label_en", flag["code"]),
            checked=flag["code"] in ticked,
            read=_stated(flag["code"], present, absent),
        )
        for flag in indication_red_flags(code=code)
    )
    return flags, frozenset(present)


def _stated(code: str, present: frozenset[str], absent: frozenset[str]) -> str:
    return "present" if code in present else "absent" if code in absent else ""


def risk_chip(code: str, *, in_form: bool) -> Risk:
    from ordering.forms import PatientForm

    name, value = RISK_FIELDS.get(code, ("", ""))
    field_label = value_label = ""
    if name:
        form_field = PatientForm.base_fields[name]
        field_label = str(form_field.label)
        value_label = str(dict(getattr(form_field, "choices", ())).get(value, ""))
    return Risk(
        code=code,
        label=str(RISK_LABELS.get(code, code)),
        field=name,
        field_label=field_label,
        value_label=value_label,
        in_form=in_form,
    )


def _risk(code: str, state: PageState) -> Risk:
    name, value = RISK_FIELDS.get(code, ("", ""))
    return risk_chip(code, in_form=bool(name) and state.patient.get(name) == value)
