"""Authoring pages for guideline editors, and the indication autocomplete.

Thin: each view loads through one `_get_<thing>_for_user` helper, validates a
form and calls a service of guidelines.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from guidelines.engine import NoPublishedRuleSet, published_rule_set_compiled
from guidelines.forms import ImportForm, PublishForm, ReasonForm, RuleForm, RuleSearchForm
from guidelines.models import Rule, RuleChange, RuleSet, RuleSetStatus
from guidelines.resolve import resolve
from guidelines.rulepack import RulePackInvalid
from guidelines.selectors import rule_predecessors, rule_search, rule_set_history
from guidelines.services.rulesets import (
    PublishRefused,
    golden_cases_run,
    rule_set_clone,
    rule_set_diff,
    rule_set_publish,
    rule_set_rollback,
    rule_update,
)
from guidelines.services.transfer import MAX_IMPORT_BYTES, rule_set_export, rule_set_import
from imaging_cds.roles import Role, role_required

editor_only = role_required(Role.GUIDELINE_EDITOR)


def _get_rule_set_for_user(request: HttpRequest, version: int) -> RuleSet:
    # Every editor sees every set; the role check is the view's decorator.
    return get_object_or_404(RuleSet, version=version)


def _get_rule_for_user(request: HttpRequest, rule_id: int) -> Rule:
    return get_object_or_404(
        Rule.objects.select_related("rule_set", "indication", "procedure"), pk=rule_id
    )


def _published() -> RuleSet | None:
    return RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()


@require_GET
@editor_only
def rule_sets(request: HttpRequest) -> HttpResponse:
    return _rule_sets_page(request, ImportForm())


def _rule_sets_page(
    request: HttpRequest, form: ImportForm, errors: list[str] | None = None, status: int = 200
) -> HttpResponse:
    sets = RuleSet.objects.annotate(rule_count=Count("rules")).select_related("parent")
    context = {
        "rule_sets": sets,
        "published": _published(),
        "import_form": form,
        "import_errors": errors or [],
        "changes": rule_set_history()[:20],
    }
    return render(request, "guidelines/rule_sets.html", context, status=status)


@require_GET
@editor_only
def rule_set_detail(request: HttpRequest, version: int) -> HttpResponse:
    rule_set = _get_rule_set_for_user(request, version)
    form = RuleSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rules = rule_search(rule_set=rule_set, **{k: v for k, v in filters.items() if v})
    context = {
        "rule_set": rule_set,
        "form": form,
        "rules": rules[:500],
        "total": rules.count(),
        "changes": rule_set_history(rule_set=rule_set)[:50],
        "publish_form": PublishForm(),
        "reason_form": ReasonForm(),
    }
    template = "guidelines/rule_set.html"
    if getattr(request, "htmx", False):
        template += "#results"
    return render(request, template, context)


@require_GET
@editor_only
def rule_detail(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _get_rule_for_user(request, rule_id)
    earlier = rule_predecessors(rule=rule)
    history = RuleChange.objects.filter(rule_id__in=[rule.pk, *(r.pk for r in earlier)])
    context = {"rule": rule, "earlier": earlier, "history": history.select_related("user")}
    return render(request, "guidelines/rule.html", context)


@require_http_methods(["GET", "POST"])
@editor_only
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _get_rule_for_user(request, rule_id)
    if not rule.rule_set.is_draft:
        messages.error(request, _("A published or archived rule set is never edited: clone it."))
        return redirect("guidelines:rule", rule_id=rule.pk)
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        try:
            rule_update(
                rule=Rule.objects.select_related("indication").get(pk=rule.pk),
                user=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
                values=values,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Rule saved."))
            url = reverse("guidelines:rule", kwargs={"rule_id": rule.pk})
            if getattr(request, "htmx", False):
                return HttpResponseClientRedirect(url)
            return redirect(url)
    template = "guidelines/rule_edit.html"
    status = 400 if request.method == "POST" else 200
    if getattr(request, "htmx", False):
        # htmx swaps only successful responses: the form with its errors is one.
        template, status = template + "#form", 200
    return render(request, template, {"rule": rule, "form": form}, status=status)


def _errors_to_form(form: RuleForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@require_POST
@editor_only
def rule_set_clone_view(request: HttpRequest, version: int) -> HttpResponse:
    source = _get_rule_set_for_user(request, version)
    draft = rule_set_clone(rule_set=source, user=request.user)  # type: ignore[arg-type]
    messages.success(request, _("Draft v%(version)s created.") % {"version": draft.version})
    return redirect("guidelines:rule_set", version=draft.version)


@require_GET
@editor_only
def rule_set_diff_view(request: HttpRequest, version: int) -> HttpResponse:
    rule_set = _get_rule_set_for_user(request, version)
    base = _published()
    rows = rule_set_diff(rule_set=rule_set, base=base) if base != rule_set else []
    return render(
        request, "guidelines/diff.html", {"rule_set": rule_set, "base": base, "rows": rows}
    )


def _golden_page(
    request: HttpRequest, rule_set: RuleSet, *, form: PublishForm, refused: bool = False
) -> HttpResponse:
    run = golden_cases_run(rule_set=rule_set)
    base = _published()
    before = {}
    if base is not None and base != rule_set:
        before = {r.name: r for r in golden_cases_run(rule_set=base, cases_from=rule_set).results}
    rows = [
        {"result": result, "before": before.get(result.name), "changed": (
            result.name in before and before[result.name].actual != result.actual
        )}
        for result in run.results
    ]  # fmt: skip
    context = {
        "rule_set": rule_set,
        "base": base,
        "run": run,
        "rows": rows,
        "publish_form": form,
        "refused": refused,
    }
    return render(request, "guidelines/golden.html", context, status=409 if refused else 200)


@require_GET
@editor_only
def rule_set_golden(request: HttpRequest, version: int) -> HttpResponse:
    rule_set = _get_rule_set_for_user(request, version)
    return _golden_page(request, rule_set, form=PublishForm())


@require_POST
@editor_only
def rule_set_publish_view(request: HttpRequest, version: int) -> HttpResponse:
    rule_set = _get_rule_set_for_user(request, version)
    form = PublishForm(request.POST)
    if not form.is_valid():
        return _golden_page(request, rule_set, form=form, refused=True)
    try:
        rule_set_publish(
            rule_set=rule_set,
            user=request.user,  # type: ignore[arg-type]
            reason=form.cleaned_data["reason"],
            override_reason=form.cleaned_data["override_reason"],
        )
    except PublishRefused:
        form.add_error(
            "override_reason",
            _("Golden cases fail: publishing is refused unless you say why you override."),
        )
        return _golden_page(request, rule_set, form=form, refused=True)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("guidelines:rule_set", version=version)
    messages.success(request, _("v%(version)s is now in force.") % {"version": version})
    return redirect("guidelines:rule_set", version=version)


@require_POST
@editor_only
def rule_set_rollback_view(request: HttpRequest, version: int) -> HttpResponse:
    rule_set = _get_rule_set_for_user(request, version)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why you roll back."))
        return redirect("guidelines:rule_set", version=version)
    try:
        rule_set_rollback(
            rule_set=rule_set,
            user=request.user,  # type: ignore[arg-type]
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("v%(version)s is back in force.") % {"version": version})
    return redirect("guidelines:rule_set", version=version)


@require_GET
@editor_only
def rule_set_export_view(request: HttpRequest, version: int, fmt: str) -> HttpResponse:
    rule_set = _get_rule_set_for_user(request, version)
    if fmt not in ("yaml", "json"):
        raise Http404
    content_type = "application/json" if fmt == "json" else "application/yaml"
    response = HttpResponse(
        rule_set_export(rule_set=rule_set, fmt=fmt), content_type=f"{content_type}; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="rule-set-v{version}.{fmt}"'
    return response


@require_POST
@editor_only
def rule_set_import_view(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _rule_sets_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    name = upload.name or "upload"
    fmt = "json" if name.lower().endswith(".json") else "yaml"
    errors: list[str] = []
    if upload.size > MAX_IMPORT_BYTES:
        errors = [_("The file is larger than %(mb)s MB.") % {"mb": MAX_IMPORT_BYTES // 2**20}]
    elif not name.lower().endswith((".yaml", ".yml", ".json")):
        errors = [_("Only .yaml, .yml and .json files are accepted.")]
    else:
        try:
            text = upload.read().decode("utf-8")
            rule_set = rule_set_import(
                text=text,
                fmt=fmt,
                filename=name,
                user=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
            )
        except UnicodeDecodeError:
            errors = [_("The file is not UTF-8 text.")]
        except RulePackInvalid as exc:
            errors = [str(e) for e in exc.errors]
        else:
            messages.success(
                request, _("Imported as draft v%(version)s.") % {"version": rule_set.version}
            )
            return redirect("guidelines:rule_set", version=rule_set.version)
    return _rule_sets_page(request, form, errors, status=400)


@require_GET
@login_required
def indication_search(request: HttpRequest) -> HttpResponse:
    """Autocomplete: a partial list of candidate indications (htmx, per keystroke)."""
    query = request.GET.get("q", "")[:200]
    try:
        candidates = resolve(query, published_rule_set_compiled()) if query.strip() else []
    except NoPublishedRuleSet:
        candidates = []
    return render(
        request, "guidelines/_indication_options.html", {"candidates": candidates, "q": query}
    )
