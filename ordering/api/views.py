"""REST API v1. One view per action; each validates, calls a service or selector,
and serialises (HackSoft style). Decision logic lives in the stages, not here."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guidelines.models import Procedure


class ProcedureListApi(APIView):
    class OutputSerializer(serializers.ModelSerializer[Procedure]):
        class Meta:
            model = Procedure
            fields = (
                "code",
                "label_fr",
                "label_en",
                "modality",
                "body_region",
                "contrast",
                "dose_class",
                "duration_minutes",
            )

    @extend_schema(responses=OutputSerializer(many=True), operation_id="procedures_list")
    def get(self, request: Request) -> Response:
        paginator = LimitOffsetPagination()
        queryset = Procedure.objects.order_by("code")
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)
