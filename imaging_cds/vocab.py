"""Vocabulary shared by every app (modalities), kept here so that scheduling need
not import guidelines to speak of a CT scanner."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Modality(models.TextChoices):
    CT = "CT", _("CT scan")
    MR = "MR", _("MRI")
    US = "US", _("Ultrasound")
    DX = "DX", _("Radiography")
    MG = "MG", _("Mammography")
    NM = "NM", _("Nuclear medicine")
    PT = "PT", _("PET")


IONISING_MODALITIES = frozenset({Modality.CT, Modality.DX, Modality.MG, Modality.NM, Modality.PT})
