from __future__ import annotations

from django.apps import AppConfig


class GuidelinesConfig(AppConfig):
    name = "guidelines"
