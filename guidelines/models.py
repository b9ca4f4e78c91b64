"""Indication and procedure catalogues, and versioned rule sets."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from imaging_cds.vocab import IONISING_MODALITIES, Modality


class Area(models.TextChoices):
    HEAD_NEURO = "head_neuro", _("Head and neurology")
    SPINE = "spine", _("Spine")
    MUSCULOSKELETAL = "musculoskeletal", _("Musculoskeletal")
    CHEST = "chest", _("Chest")
    ABDOMEN = "abdomen", _("Abdomen and digestive")
    UROLOGY = "urology", _("Urology and nephrology")
    GYNAECOLOGY = "gynaecology", _("Gynaecology, obstetrics and breast")
    ENT = "ent", _("ENT")
    PAEDIATRICS = "paediatrics", _("Paediatrics")
    VASCULAR = "vascular", _("Vascular")


class Indication(models.Model):
    """A clinical reason for an imaging exam, as a GP would state it."""

    code = models.SlugField(max_length=80, unique=True)
    area = models.CharField(max_length=20, choices=Area.choices)
    label_fr = models.CharField(max_length=200)
    label_en = models.CharField(max_length=200)
    # Free-text forms a prescriber may type, in either language.
    synonyms = models.JSONField(default=list, blank=True)
    # Only codes verified against the classification; empty rather than guessed.
    icd10_codes = models.JSONField(default=list, blank=True)
    snomed_codes = models.JSONField(default=list, blank=True)
    # Named red flags a rule may condition on: [{"code", "label_fr", "label_en",
    # "words", "absent_words"}]; the words are what a prescriber writes for the flag
    # stated present ("fièvre") and stated absent ("apyrétique").
    red_flags = models.JSONField(default=list, blank=True)
    # How long the complaint has lasted, where the indication's definition says so:
    # {"min": days, "max": days}, either bound optional; {} when it does not depend on it.
    duration_days = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Contrast(models.TextChoices):
    NONE = "none", _("No contrast")
    IODINATED = "iodinated", _("Iodinated contrast")
    GADOLINIUM = "gadolinium", _("Gadolinium contrast")


class DoseClass(models.IntegerChoices):
    """Effective-dose classes of the European referral guidelines."""

    NONE = 0, _("0 (no ionising radiation)")
    I = 1, _("I (< 1 mSv)")  # noqa: E741 - the classes are written in Roman numerals
    II = 2, _("II (1–5 mSv)")
    III = 3, _("III (5–10 mSv)")
    IV = 4, _("IV (> 10 mSv)")


class Procedure(models.Model):
    """An exam: a modality on a body region, with or without contrast."""

    code = models.SlugField(max_length=80, unique=True)
    label_fr = models.CharField(max_length=200)
    label_en = models.CharField(max_length=200)
    modality = models.CharField(max_length=2, choices=Modality.choices)
    body_region = models.CharField(max_length=40)
    contrast = models.CharField(max_length=12, choices=Contrast.choices, default=Contrast.NONE)
    dose_class = models.PositiveSmallIntegerField(choices=DoseClass.choices)
    duration_minutes = models.PositiveSmallIntegerField(default=20)
    # CCAM codes of this exam, each seen with its label in the published nomenclature
    # (guidelines/data/codes/ccam.yaml, written at rule pack load); empty when none was
    # verified. An EHR's CCAM-coded order is matched through them.
    ccam_codes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def is_ionising(self) -> bool:
        return self.modality in IONISING_MODALITIES


class RuleSetStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    ARCHIVED = "archived", _("Archived")


class RuleSet(models.Model):
    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(
        max_length=10, choices=RuleSetStatus.choices, default=RuleSetStatus.DRAFT
    )
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The set this draft was cloned from, so a draft can say what it changes.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            # Exactly one rule set is in force; the database refuses a second.
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="published"),
                name="guidelines_one_published_rule_set",
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})"

    @property
    def is_draft(self) -> bool:
        return self.status == RuleSetStatus.DRAFT


class Category(models.TextChoices):
    """The French guide's vocabulary."""

    INDICATED = "indicated", _("Indicated")
    SPECIAL_CASES = "special_cases", _("Indicated in particular cases")
    SPECIALISED = "specialised", _("Specialised exam")
    NOT_INDICATED_INITIALLY = "not_indicated_initially", _("Not indicated initially")
    NOT_INDICATED = "not_indicated", _("Not indicated")
    CONTRAINDICATED = "contraindicated", _("Contraindicated")


# Where each category sits on the 1–9 scale of ACR-style content
# (7–9 usually appropriate, 4–6 may be appropriate, 1–3 usually not appropriate).
CATEGORY_SCORE: dict[str, int] = {
    Category.INDICATED: 8,
    Category.SPECIAL_CASES: 6,
    Category.SPECIALISED: 5,
    Category.NOT_INDICATED_INITIALLY: 3,
    Category.NOT_INDICATED: 2,
    Category.CONTRAINDICATED: 1,
}


class Evidence(models.TextChoices):
    A = "A", _("Grade A")
    B = "B", _("Grade B")
    C = "C", _("Grade C")
    EXPERT = "expert", _("Expert agreement")


class Intention(models.TextChoices):
    FIRST_LINE = "first_line", _("First line")
    SECOND_LINE = "second_line", _("Second line")


class Priority(models.TextChoices):
    URGENT = "urgent", _("Urgent")
    WITHIN_WEEK = "within_week", _("Within a week")
    WITHIN_WEEKS = "within_weeks", _("Within weeks")


class Rule(models.Model):
    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    indication = models.ForeignKey(Indication, on_delete=models.PROTECT, related_name="rules")
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="rules")
    # A closed, typed vocabulary validated by guidelines.conditions; never evaluated as code.
    conditions = models.JSONField(default=dict, blank=True)
    category = models.CharField(max_length=30, choices=Category.choices)
    evidence = models.CharField(max_length=10, choices=Evidence.choices)
    intention = models.CharField(
        max_length=12, choices=Intention.choices, default=Intention.FIRST_LINE
    )
    priority = models.CharField(
        max_length=12, choices=Priority.choices, default=Priority.WITHIN_WEEKS
    )
    rationale_fr = models.TextField()
    rationale_en = models.TextField()
    source_document = models.CharField(max_length=300)
    source_section = models.CharField(max_length=200, blank=True)
    source_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1990), MaxValueValidator(2100)]
    )
    source_url = models.URLField(blank=True)
    # How recent a prior exam of the same kind makes a new one redundant.
    repeat_interval_days = models.PositiveIntegerField(null=True, blank=True)
    # Why a clinician should check this rule before it is trusted ("" when nobody
    # flagged it): shown as a badge in the authoring pages and listed in the report.
    review = models.TextField(blank=True, default="")
    # File order within the set: on equally specific rules, the first one wins.
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["rule_set", "indication"])]

    def __str__(self) -> str:
        return f"{self.indication.code} → {self.procedure.code}: {self.category}"

    @property
    def score(self) -> int:
        return CATEGORY_SCORE[self.category]


class GoldenCase(models.Model):
    """A worked example the rule set must keep answering the same way.

    Cases belong to a rule set (and are copied when it is cloned), so a draft can
    change its cases together with its rules and both are published as one."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="golden_cases")
    name = models.CharField(max_length=200)
    indication = models.ForeignKey(Indication, on_delete=models.PROTECT, related_name="+")
    # Patient context in the rule pack's vocabulary (guidelines.rulepack.GOLDEN_CONTEXT_KEYS).
    context = models.JSONField(default=dict)
    # procedure code -> expected category.
    expect = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class ChangeAction(models.TextChoices):
    RULE_UPDATE = "rule_update", _("Rule edited")
    RULE_CREATE = "rule_create", _("Rule created")
    RULE_DELETE = "rule_delete", _("Rule deleted")
    CLONE = "clone", _("Draft cloned")
    IMPORT = "import", _("Rule set imported")
    PUBLISH = "publish", _("Published")
    PUBLISH_OVERRIDE = "publish_override", _("Published despite failing golden cases")
    ROLLBACK = "rollback", _("Rolled back")


class RuleChangeQuerySet(models.QuerySet["RuleChange"]):
    def update(self, **kwargs: object) -> int:
        raise TypeError("The rule history is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("The rule history is append-only.")


class RuleChange(models.Model):
    """Who changed what, when and why. Append-only: rows are never updated or deleted."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="changes")
    # Kept as a plain id (not a foreign key) so the history outlives a deleted rule.
    rule_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=20, choices=ChangeAction.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    reason = models.TextField()
    # Field values before and after, for rule edits; failing cases for an override.
    details = models.JSONField(default=dict, blank=True)

    objects = RuleChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} v{self.rule_set_id} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise TypeError("The rule history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise TypeError("The rule history is append-only.")
