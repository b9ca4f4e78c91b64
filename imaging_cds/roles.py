"""Roles are Django groups (created by a data migration). This module is the one
place that says who holds which role; views and API permissions ask it."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


class Role(StrEnum):
    PRESCRIBER = "prescriber"
    GUIDELINE_EDITOR = "guideline_editor"
    CENTRE_MANAGER = "centre_manager"
    API_CLIENT = "api_client"
    MEDICAL_DIRECTOR = "medical_director"


User = AbstractBaseUser | AnonymousUser

_CACHE_ATTR = "_imaging_cds_roles"


def user_roles(user: Any) -> frozenset[Role]:
    """The roles a user holds, read once per request object."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        setattr(user, _CACHE_ATTR, cached)
    return cached


def has_role(user: Any, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))


V = TypeVar("V", bound=Callable[..., HttpResponse])


# Who may search and export the audit trail: the hospital admin, who already holds
# the guideline_editor role (DESIGN.md, "Who uses it"). One place to change it, e.g.
# for a dedicated data-protection role.
AUDIT_READERS: frozenset[Role] = frozenset({Role.GUIDELINE_EDITOR})


def can_read_audit(user: Any) -> bool:
    return has_role(user, *AUDIT_READERS)


# Who may switch the decision support off, silent or active: the hospital admin who
# edits the guidelines, or the medical director who answers for the pilot.
MODE_CHANGERS: frozenset[Role] = frozenset({Role.GUIDELINE_EDITOR, Role.MEDICAL_DIRECTOR})
# Who reads the pilot report; prescribers are named in it for the medical director only.
PILOT_READERS: frozenset[Role] = frozenset({Role.GUIDELINE_EDITOR, Role.MEDICAL_DIRECTOR})


def can_see_prescriber_names(user: Any) -> bool:
    return has_role(user, Role.MEDICAL_DIRECTOR)


def role_required(*roles: Role) -> Callable[[V], V]:
    """Anonymous users go to the login page; signed-in users without the role get 403."""

    def decorator(view: V) -> V:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def roles_context(request: HttpRequest) -> dict[str, object]:
    held = user_roles(request.user)
    return {
        "user_roles": {role.value for role in held},
        "can_read_audit": bool(held & AUDIT_READERS),
        "can_read_pilot": bool(held & PILOT_READERS),
    }
