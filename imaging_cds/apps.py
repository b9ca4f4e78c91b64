from __future__ import annotations

from django.apps import AppConfig


class ImagingCdsConfig(AppConfig):
    name = "imaging_cds"
    verbose_name = "imaging-cds"
