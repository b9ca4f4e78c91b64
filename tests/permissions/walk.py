"""Every URL pattern the project serves, read from the URL configuration itself."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Pattern:
    route: str  # the full route, e.g. "orders/c/<uuid:consultation_id>/hold/"
    name: str  # the namespaced name, e.g. "ordering:hold"; "" when the pattern has none

    def __str__(self) -> str:
        return f"/{self.route} (name {self.name!r})" if self.name else f"/{self.route} (no name)"


def url_patterns() -> list[Pattern]:
    found: list[Pattern] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}{entry.namespace}:"
                walk(entry.url_patterns, route, inner)
            else:
                found.append(Pattern(route, f"{namespace}{entry.name}" if entry.name else ""))

    walk(get_resolver().url_patterns, "", "")
    return found
