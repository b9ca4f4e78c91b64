from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imaging_cds.settings")
application = get_wsgi_application()

# Each worker process loads this module before it serves: warm it here, not in the
# first prescriber's request (imaging_cds.warm).
if settings.WARM_UP_ON_START:
    from imaging_cds.warm import warm_up

    warm_up()
