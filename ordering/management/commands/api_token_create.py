"""manage.py api_token_create USER: the REST API token of an api_client account,
printed once on standard output (and nowhere else: it is not logged)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from ordering.ehr_clients import api_token_create


class Command(BaseCommand):
    help = "Create the REST API token of an api_client account and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="An account holding the api_client role.")
        parser.add_argument(
            "--rotate", action="store_true", help="Replace the token the account has."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(_("No account %(username)s.") % {"username": options["username"]})
        try:
            key = api_token_create(user=user, rotate=options["rotate"])
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        # The token alone on stdout, so that `TOKEN=$(manage.py api_token_create …)` works;
        # the advice goes to stderr.
        self.stderr.write(
            _("Token of %(username)s (shown once; keep it secret):")
            % {"username": user.get_username()}
        )
        self.stdout.write(key)
