"""manage.py ehr_client_register: register an EHR allowed to call the CDS Hooks
services (its JWT issuer and public keys) and the api_client account it acts as.

`--fhir-server` (repeatable) lists the FHIR base URLs its hooks may name as
fhirServer (nothing else is ever fetched, nor sent its token); `--jwks-url` is where
it serves its current public keys, read again when it rotates them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify
from django.utils.translation import gettext as _

from ordering.ehr_clients import ehr_client_register
from ordering.jwks import jwks_parse


def _messages(error: ValidationError) -> str:
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Register (or with --update, change) an EHR client and its api_client account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="The EHR's name, as staff know it.")
        parser.add_argument("--issuer", required=True, help="The iss claim of its JWTs.")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--jwks-file", help="A file holding its public keys as a JWKS.")
        keys.add_argument("--jwks-json", help="Its public keys as JWKS JSON text.")
        parser.add_argument(
            "--username", help="The api_client account it acts as (default: ehr-<name>)."
        )
        parser.add_argument(
            "--update", action="store_true", help="Change the client already registered."
        )
        parser.add_argument(
            "--fhir-server",
            action="append",
            dest="fhir_servers",
            help="A FHIR base URL its hooks may name as fhirServer (repeat for several).",
        )
        parser.add_argument("--jwks-url", help="Where it serves its current public keys.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        issuer = options["issuer"].strip()
        if not name or not issuer:
            raise CommandError(_("--name and --issuer must not be empty."))
        username = options["username"] or f"ehr-{slugify(name)}"[:150]
        try:
            jwks = jwks_parse(self._jwks_text(options))
            registration = ehr_client_register(
                name=name,
                issuer=issuer,
                jwks=jwks,
                username=username,
                update=options["update"],
                fhir_servers=options["fhir_servers"],
                jwks_url=options["jwks_url"],
            )
        except ValidationError as error:
            raise CommandError(_messages(error)) from None
        client = registration.client
        kids = ", ".join(key["kid"] for key in client.jwks["keys"])
        verb = _("Registered") if registration.created else _("Updated")
        self.stdout.write(
            _(
                "%(verb)s EHR client %(name)s\n"
                "  issuer:  %(issuer)s\n"
                "  keys:    %(kids)s\n"
                "  account: %(username)s (api_client%(new)s)"
            )
            % {
                "verb": verb,
                "name": client.name,
                "issuer": client.issuer,
                "kids": kids,
                "username": client.user.get_username(),
                "new": _(", created") if registration.user_created else "",
            }
        )

    def _jwks_text(self, options: dict[str, Any]) -> str:
        if options["jwks_json"] is not None:
            return str(options["jwks_json"])
        path = Path(options["jwks_file"])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                _("Cannot read the JWKS file %(path)s: %(error)s")
                % {"path": path, "error": exc.strerror or exc}
            ) from None
        except UnicodeDecodeError:
            raise CommandError(
                _("The JWKS file %(path)s is not UTF-8 text.") % {"path": path}
            ) from None
