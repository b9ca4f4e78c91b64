from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from guidelines.models import Rule, RuleChange, RuleSet
from guidelines.services.rulesets import rule_set_clone
from guidelines.services.transfer import rule_set_export
from tests.actors import Actors


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def draft(published: RuleSet, actors: Actors) -> RuleSet:
    return rule_set_clone(rule_set=published, user=actors.erin)


def _rule(rule_set: RuleSet, procedure: str = "mr-brain", indication="test-headache-sudden"):
    return Rule.objects.get(
        rule_set=rule_set, procedure__code=procedure, indication__code=indication
    )


def _edit_data(rule: Rule, **changes) -> dict:
    data = {
        "conditions": json.dumps(rule.conditions),
        "category": rule.category,
        "evidence": rule.evidence,
        "intention": rule.intention,
        "priority": rule.priority,
        "rationale_fr": rule.rationale_fr,
        "rationale_en": rule.rationale_en,
        "source_document": rule.source_document,
        "source_section": rule.source_section,
        "source_year": rule.source_year,
        "source_url": rule.source_url,
        "repeat_interval_days": rule.repeat_interval_days or "",
        "reason": "Reviewed with the neuroradiologists",
    }
    data.update(changes)
    return data


def test_an_editor_finds_rules_by_indication_procedure_category_and_area(published, actors):
    client = client_for(actors.erin)
    url = reverse("guidelines:rule_set", args=[published.version])
    page = client.get(url, {"q": "sudden"})
    assert page.status_code == 200 and page.context["total"] == 4
    assert client.get(url, {"procedure": "mr-brain"}).context["total"] == 3
    assert client.get(url, {"category": "specialised"}).context["total"] == 1
    assert client.get(url, {"area": "spine"}).context["total"] == 0
    partial = client.get(url, {"q": "chronic"}, headers={"HX-Request": "true"})
    assert b'id="results"' in partial.content and b"<html" not in partial.content


def test_an_editor_reads_a_rule_with_its_history(draft, actors):
    rule = _rule(draft)
    client = client_for(actors.erin)
    client.post(
        reverse("guidelines:rule_edit", args=[rule.pk]), _edit_data(rule, category="special_cases")
    )
    page = client.get(reverse("guidelines:rule", args=[rule.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Reviewed with the neuroradiologists" in text and "erin" in text
    assert "v1" in text  # the same rule in the published version


def test_editing_a_draft_rule_saves_it_and_records_who_when_and_why(draft, actors):
    rule = _rule(draft)
    response = client_for(actors.erin).post(
        reverse("guidelines:rule_edit", args=[rule.pk]),
        _edit_data(rule, category="special_cases", conditions='{"age_min": 18}'),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.category == "special_cases" and rule.conditions == {"age_min": 18}
    change = RuleChange.objects.get(rule_id=rule.pk)
    assert change.user == actors.erin and change.reason == "Reviewed with the neuroradiologists"
    assert change.details["changed"]["category"] == ["specialised", "special_cases"]


def test_invalid_values_are_shown_next_to_their_field_and_nothing_is_saved(draft, actors):
    rule = _rule(draft)
    response = client_for(actors.erin).post(
        reverse("guidelines:rule_edit", args=[rule.pk]),
        _edit_data(rule, conditions='{"age_above": 3}', source_year="1850", reason=""),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200  # htmx swaps only successful responses
    html = response.content.decode()
    assert "<html" not in html  # the form alone, for htmx to swap
    for field in ("conditions", "source_year", "reason"):
        assert f'id="id_{field}_errors"' in html
    conditions_errors = html.split('id="id_conditions_errors"')[1].split("</ul>")[0]
    assert "age_above: unknown condition" in conditions_errors
    rule.refresh_from_db()
    assert rule.category == "specialised" and not RuleChange.objects.filter(rule_id=rule.pk)


def test_a_published_rule_cannot_be_edited_even_by_an_editor(published, actors):
    rule = _rule(published)
    response = client_for(actors.erin).post(
        reverse("guidelines:rule_edit", args=[rule.pk]), _edit_data(rule, category="indicated")
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.category == "specialised"


@pytest.mark.parametrize(
    ("name", "method", "args"),
    [
        ("guidelines:rule_sets", "get", ()),
        ("guidelines:clone", "post", ("version",)),
        ("guidelines:publish", "post", ("version",)),
        ("guidelines:rollback", "post", ("version",)),
        ("guidelines:rule_edit", "post", ("rule",)),
        ("guidelines:import", "post", ()),
    ],
)
def test_a_prescriber_who_tries_to_change_rules_gets_403_and_nothing_changes(
    draft, actors, name, method, args
):
    rule = _rule(draft)
    values = {"version": draft.version, "rule": rule.pk}
    url = reverse(name, args=[values[a] for a in args])
    before = (RuleSet.objects.count(), RuleChange.objects.count(), Rule.objects.count())
    response = getattr(client_for(actors.alice), method)(
        url, _edit_data(rule, category="indicated", override_reason="x")
    )
    assert response.status_code == 403
    assert (RuleSet.objects.count(), RuleChange.objects.count(), Rule.objects.count()) == before
    assert RuleSet.objects.get(pk=draft.pk).status == "draft"
    rule.refresh_from_db()
    assert rule.category == "specialised"


def test_an_anonymous_visitor_is_sent_to_the_login_page(published):
    response = Client().get(reverse("guidelines:rule_sets"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_cloning_the_published_set_makes_a_new_draft_with_the_same_rules(published, actors):
    response = client_for(actors.erin).post(reverse("guidelines:clone", args=[published.version]))
    draft = RuleSet.objects.get(version=published.version + 1)
    assert response["Location"] == reverse("guidelines:rule_set", args=[draft.version])
    assert draft.status == "draft" and draft.parent == published
    assert draft.rules.count() == published.rules.count() == 8
    assert draft.golden_cases.count() == 4


def test_the_diff_shows_what_a_draft_changes_against_the_published_set(draft, actors):
    rule = _rule(draft)
    client = client_for(actors.erin)
    client.post(
        reverse("guidelines:rule_edit", args=[rule.pk]), _edit_data(rule, category="indicated")
    )
    Rule.objects.filter(rule_set=draft, conditions__has_key="age_max").delete()
    page = client.get(reverse("guidelines:diff", args=[draft.version]))
    rows = page.context["rows"]
    assert sorted((r.kind, r.key[0], r.key[1], r.fields) for r in rows) == [
        ("changed", "test-headache-sudden", "mr-brain", ("category",)),
        ("removed", "test-chronic-headache", "ct-head", ()),
    ]
    assert 'class="diff-removed"' in page.content.decode()


def test_golden_cases_run_against_a_draft_and_show_what_changes(draft, actors):
    rule = _rule(draft)
    client = client_for(actors.erin)
    client.post(
        reverse("guidelines:rule_edit", args=[rule.pk]), _edit_data(rule, category="indicated")
    )
    page = client.get(reverse("guidelines:golden", args=[draft.version]))
    assert page.status_code == 200
    run = page.context["run"]
    assert [r.name for r in run.failures] == ["Adult with sudden headache (test)"]
    changed = [row["result"].name for row in page.context["rows"] if row["changed"]]
    assert changed == ["Adult with sudden headache (test)"]
    assert "mr-brain: specialised → indicated" in page.content.decode()


def test_publishing_is_refused_while_a_golden_case_fails(draft, published, actors):
    rule = _rule(draft)
    client = client_for(actors.erin)
    client.post(
        reverse("guidelines:rule_edit", args=[rule.pk]), _edit_data(rule, category="indicated")
    )
    response = client.post(reverse("guidelines:publish", args=[draft.version]), {"reason": "go"})
    assert response.status_code == 409
    assert "override_reason" in response.context["publish_form"].errors
    assert RuleSet.objects.get(pk=draft.pk).status == "draft"
    assert RuleSet.objects.get(pk=published.pk).status == "published"


def test_an_editor_may_override_a_failing_golden_case_with_a_reason_that_is_kept(
    draft, published, actors
):
    rule = _rule(draft)
    client = client_for(actors.erin)
    client.post(
        reverse("guidelines:rule_edit", args=[rule.pk]), _edit_data(rule, category="indicated")
    )
    response = client.post(
        reverse("guidelines:publish", args=[draft.version]),
        {"reason": "", "override_reason": "The 2026 guide upgrades MRI; case to be updated."},
    )
    assert response.status_code == 302
    assert RuleSet.objects.get(pk=draft.pk).status == "published"
    assert RuleSet.objects.get(pk=published.pk).status == "archived"
    change = RuleChange.objects.get(rule_set=draft, action="publish_override")
    assert change.reason == "The 2026 guide upgrades MRI; case to be updated."
    assert change.user == actors.erin
    assert change.details["failing_cases"][0]["mismatches"][0]["procedure"] == "mr-brain"


def test_publishing_a_passing_draft_and_rolling_back_to_the_earlier_version(
    draft, published, actors
):
    client = client_for(actors.erin)
    client.post(reverse("guidelines:publish", args=[draft.version]), {"reason": "Reviewed"})
    assert RuleSet.objects.get(pk=draft.pk).status == "published"
    refused = client.post(reverse("guidelines:rollback", args=[published.version]), {})
    assert refused.status_code == 302
    assert RuleSet.objects.get(pk=published.pk).status == "archived"  # no reason: refused
    client.post(
        reverse("guidelines:rollback", args=[published.version]),
        {"reason": "v2 confuses the emergency department"},
    )
    assert RuleSet.objects.get(pk=published.pk).status == "published"
    assert RuleSet.objects.get(pk=draft.pk).status == "archived"
    actions = list(RuleChange.objects.order_by("id").values_list("action", "user__username"))
    assert actions[-2:] == [("publish", "erin"), ("rollback", "erin")]
    assert RuleSet.objects.filter(status="published").count() == 1


def test_the_history_is_append_only(draft, actors):
    change = RuleChange.objects.filter(rule_set=draft).first()
    assert change is not None
    change.reason = "rewritten"
    with pytest.raises(TypeError):
        change.save()
    with pytest.raises(TypeError):
        change.delete()
    with pytest.raises(TypeError):
        RuleChange.objects.all().delete()
    with pytest.raises(TypeError):
        RuleChange.objects.update(reason="x")


def test_an_editor_exports_and_imports_a_rule_set_through_the_pages(published, actors):
    client = client_for(actors.erin)
    for fmt in ("yaml", "json"):
        exported = client.get(reverse("guidelines:export", args=[published.version, fmt]))
        assert exported.status_code == 200
        assert exported["Content-Disposition"].endswith(f'v{published.version}.{fmt}"')
        upload = SimpleUploadedFile(f"set.{fmt}", exported.content)
        response = client.post(reverse("guidelines:import"), {"file": upload, "reason": "copy"})
        assert response.status_code == 302
    assert RuleSet.objects.filter(status="draft").count() == 2


def test_a_malformed_upload_is_rejected_whole_with_line_and_field(published, actors):
    text = rule_set_export(rule_set=published, fmt="yaml").replace("evidence: B", "evidence: D", 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "evidence: D" in row)
    before = (RuleSet.objects.count(), Rule.objects.count())
    response = client_for(actors.erin).post(
        reverse("guidelines:import"), {"file": SimpleUploadedFile("bad.yaml", text.encode())}
    )
    assert response.status_code == 400
    assert response.context["import_errors"][0].startswith(
        f"bad.yaml, line {line}, rules[0].evidence: must be one of"
    )
    assert (RuleSet.objects.count(), Rule.objects.count()) == before


def test_uploads_over_the_size_limit_or_of_another_type_are_refused(published, actors, settings):
    client = client_for(actors.erin)
    big = SimpleUploadedFile("big.yaml", b"#" * (5 * 1024 * 1024 + 1))
    response = client.post(reverse("guidelines:import"), {"file": big})
    assert response.status_code == 400 and "dépasse 5 Mo" in response.context["import_errors"][0]
    exe = SimpleUploadedFile("set.py", b"print(1)")
    assert client.post(reverse("guidelines:import"), {"file": exe}).status_code == 400
    assert RuleSet.objects.count() == 1


def test_the_autocomplete_returns_a_partial_list_of_indications(published, actors):
    client = client_for(actors.alice)
    response = client.get(reverse("guidelines:indication_search"), {"q": "cephalee brutle"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-code="test-headache-sudden"' in html and "<html" not in html
    assert (
        "Aucune"
        in client.get(reverse("guidelines:indication_search"), {"q": "zzzz"}).content.decode()
    )


def test_the_home_page_links_editors_to_the_rules(actors):
    page = client_for(actors.erin).get("/")
    assert reverse("guidelines:rule_sets") in page.content.decode()
