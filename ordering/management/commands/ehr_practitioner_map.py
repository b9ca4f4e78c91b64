"""manage.py ehr_practitioner_map: which local prescriber account an EHR's hook
``userId`` is, so that the card links of that practitioner's hooks open for them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from ordering.ehr_clients import ehr_practitioner_map


class Command(BaseCommand):
    help = "Map an EHR's practitioner (hook userId) to a local prescriber account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--issuer", required=True, help="The EHR client's JWT issuer.")
        parser.add_argument(
            "--ehr-user-id", required=True, help="The hook's userId, e.g. Practitioner/123."
        )
        parser.add_argument("--username", required=True, help="The local prescriber account.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            mapping = ehr_practitioner_map(
                issuer=options["issuer"].strip(),
                ehr_user_id=options["ehr_user_id"],
                username=options["username"].strip(),
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(
            _("%(ehr_user_id)s of %(client)s is %(username)s here.")
            % {
                "ehr_user_id": mapping.ehr_user_id,
                "client": mapping.client.name,
                "username": mapping.user.get_username(),
            }
        )
