"""The notes of the exams after the first, said once each at the top of the decision
page (ordering.views._other_exam_notes)."""

from __future__ import annotations

from typing import Any

from django.utils import translation

from ordering.views import _other_exam_notes


def _rating(label: str, **notes: Any) -> dict[str, Any]:
    return {
        "label_fr": label,
        "label_en": label,
        "contraindications": notes.get("contraindications", []),
        "warnings": notes.get("warnings", []),
        "redundancy": notes.get("redundancy"),
    }


PREGNANT = {"reason_fr": "Examen irradiant chez une femme enceinte.", "reason_en": "Ionising."}


def test_the_first_exams_notes_stay_in_its_card_and_the_others_are_said_once() -> None:
    groups: list[dict[str, Any]] = [
        {"rating": _rating("Angioscanner", warnings=[PREGNANT])},
        {"rating": _rating("Scintigraphie", warnings=[PREGNANT])},
        {"rating": _rating("Scanner bis", warnings=[PREGNANT])},
        {
            "rating": _rating(
                "IRM",
                contraindications=[{"reason_fr": "Implant non compatible.", "reason_en": "x"}],
                redundancy={"message_fr": "redondant : IRM il y a 30 jours", "institution": "CHU"},
            ),
            "pregnancy_unanswered": True,
        },
        {"rating": None},
    ]
    with translation.override("fr"):
        notes = _other_exam_notes(groups)
    assert [(n["kind"], n["exams"]) for n in notes] == [
        ("contraindication", ["IRM"]),
        ("pregnancy", ["IRM"]),
        ("redundancy", ["IRM"]),
        ("warning", ["Scintigraphie", "Scanner bis"]),
    ]
    assert notes[0]["text"].endswith("Implant non compatible.")
    assert notes[2]["text"] == "redondant : IRM il y a 30 jours (CHU)"
    assert notes[3]["text"].endswith("Examen irradiant chez une femme enceinte.")


def test_a_single_exam_has_no_summary() -> None:
    assert _other_exam_notes([{"rating": _rating("Radio", warnings=[PREGNANT])}]) == []
