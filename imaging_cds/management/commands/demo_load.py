"""Load the demo: procedure catalogue, territory, users for each role, free slots."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from guidelines.catalogue import procedure_catalogue_load
from guidelines.models import RuleSet, RuleSetStatus
from guidelines.rulepack import rulepack_load
from imaging_cds.roles import Role
from scheduling.demo import demo_centres_load
from scheduling.services.feeds import availability_refresh

# Demo accounts only: the command refuses to run with DEBUG off unless forced.
DEMO_USERS: list[dict[str, str]] = [
    {
        "username": "dr.martin",
        "first_name": "Claire",
        "last_name": "Martin",
        "role": Role.PRESCRIBER,
        "password": "demo-prescripteur",
    },
    {
        "username": "dr.bernard",
        "first_name": "Hugo",
        "last_name": "Bernard",
        "role": Role.PRESCRIBER,
        "password": "demo-prescripteur-2",
    },
    {
        "username": "editeur",
        "first_name": "Anne",
        "last_name": "Lefèvre",
        "role": Role.GUIDELINE_EDITOR,
        "password": "demo-editeur",
    },
    {
        "username": "directeur",
        "first_name": "Hélène",
        "last_name": "Morel",
        "role": Role.MEDICAL_DIRECTOR,
        "password": "demo-directeur",
    },
    {
        "username": "gestionnaire",
        "first_name": "Paul",
        "last_name": "Rivière",
        "role": Role.CENTRE_MANAGER,
        "password": "demo-gestionnaire",
    },
    {
        "username": "gestionnaire2",
        "first_name": "Léa",
        "last_name": "Roux",
        "role": Role.CENTRE_MANAGER,
        "password": "demo-gestionnaire-2",
    },
    {
        "username": "dpi-ehr",
        "first_name": "",
        "last_name": "",
        "role": Role.API_CLIENT,
        "password": "demo-client-api",
    },
]
DEMO_SLOT_HORIZON_DAYS = 14


class Command(BaseCommand):
    help = "Load the demo data (catalogue, centres, users, slots). For trying the product out."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")
        parser.add_argument("--quiet-accounts", action="store_true", help="Do not print accounts.")
        parser.add_argument(
            "--days",
            type=int,
            default=DEMO_SLOT_HORIZON_DAYS,
            help="How many days of free slots to generate.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("demo_load creates accounts with known passwords; use --force.")
        with transaction.atomic():
            procedures = procedure_catalogue_load()
            rules_note = self._rules()
            centres = demo_centres_load()
            users = self._users()
            # Give each demo manager a few centres, so "only their own" can be tried.
            users["gestionnaire"].managed_centres.set(centres[:3])
            users["gestionnaire2"].managed_centres.set(centres[3:5])
        # The same refresh Celery runs: slots, feed state (its age shows on /healthz), cache.
        slots = sum(
            availability_refresh(centre_id=centre.pk, horizon_days=options["days"]).created
            for centre in centres
        )
        self.stdout.write(
            f"Loaded {procedures} procedures, {len(centres)} centres, {slots} new free slots."
        )
        self.stdout.write(rules_note)
        if not options["quiet_accounts"]:
            self.stdout.write("Demo accounts (username / password / role):")
            for row in DEMO_USERS:
                self.stdout.write(f"  {row['username']:<14} {row['password']:<22} {row['role']}")

    def _rules(self) -> str:
        """The rule pack, published as the first version, unless a set is already in force."""
        published = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
        if published is not None:
            return f"Rule set v{published.version} is already in force; rule pack not reloaded."
        result = rulepack_load(label="Rule pack (demo)", publish=True)
        return (
            f"Rule set v{result.rule_set.version} published: {result.rules} rules "
            f"from {result.files} pack files."
        )

    def _users(self) -> dict[str, User]:
        users = {}
        for row in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=row["username"])
            user.first_name = row["first_name"]
            user.last_name = row["last_name"]
            user.set_password(row["password"])
            user.save()
            user.groups.set([Group.objects.get_or_create(name=row["role"])[0]])
            users[row["username"]] = user
        self._prescriber_profiles(users)
        return users

    def _prescriber_profiles(self, users: dict[str, User]) -> None:
        """What the demo prescribers' printed orders say of them (fictional RPPS
        numbers with a valid Luhn key, fictional addresses)."""
        from ordering.models import PrescriberProfile

        for username, rpps, street in (
            ("dr.martin", "10000000017", "12 rue de l’Exemple"),
            ("dr.bernard", "10000000025", "3 place de la Démonstration"),
        ):
            if username in users:
                PrescriberProfile.objects.update_or_create(
                    user=users[username],
                    defaults={
                        "rpps": rpps,
                        "speciality": "Médecine générale",
                        "address": f"Cabinet médical, {street}",
                        "postcode": "35000",
                        "town": "Rennes",
                        "phone": "02 99 00 00 00",
                    },
                )
