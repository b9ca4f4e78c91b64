"""What a 500 error report (AdminEmailHandler's mail, the technical 500 page) may
show when DEBUG is off: no POST values and no local variables. Both can hold a
patient's identity anywhere down the stack (a PACS query, a sign form), and a
list of sensitive names would miss the next one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, QueryDict
from django.views.debug import SafeExceptionReporterFilter

HIDDEN = "[hidden: may hold patient data]"


class PatientSafeReporterFilter(SafeExceptionReporterFilter):
    def get_post_parameters(self, request: HttpRequest | None) -> QueryDict | dict[str, Any]:
        if request is None or not self.is_active(request):
            return super().get_post_parameters(request)
        cleansed = request.POST.copy()
        for key in cleansed:
            cleansed[key] = HIDDEN
        return cleansed

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        if not self.is_active(request):
            return super().get_traceback_frame_variables(request, tb_frame)
        return [("locals", HIDDEN)]
