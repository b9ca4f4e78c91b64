from __future__ import annotations

from imaging_cds.celery import app as celery_app

__all__ = ("celery_app",)
