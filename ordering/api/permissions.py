from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission

from imaging_cds.roles import Role, has_role

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.request import Request
    from rest_framework.views import APIView


class IsApiClient(BasePermission):
    """REST API: callers must hold the api_client role (token or session)."""

    message = "This API is for accounts with the api_client role."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_role(request.user, Role.API_CLIENT)
