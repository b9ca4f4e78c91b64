import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import ordering.models
import ordering.rpps


def tokens_fill(apps, schema_editor):
    # One token per existing order: a callable default on AddField would give every
    # row the same value.
    Order = apps.get_model("ordering", "Order")
    for order in Order.objects.filter(booking_token__isnull=True).only("pk"):
        order.booking_token = ordering.models.booking_token_new()
        order.save(update_fields=["booking_token"])


class Migration(migrations.Migration):
    dependencies = [
        ("ordering", "0006_merge_20261201_1242"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="patient_birth_name",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="order",
            name="patient_given_names",
            field=models.CharField(default="", max_length=150),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="order",
            name="booking_token",
            field=models.CharField(max_length=64, null=True, editable=False),
        ),
        migrations.RunPython(tokens_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="order",
            name="booking_token",
            field=models.CharField(
                default=ordering.models.booking_token_new,
                editable=False,
                max_length=64,
                unique=True,
            ),
        ),
        migrations.CreateModel(
            name="PrescriberProfile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("rpps", models.CharField(max_length=11, validators=[ordering.rpps.rpps_validate], verbose_name="RPPS number")),
                ("speciality", models.CharField(blank=True, max_length=100, verbose_name="Speciality")),
                ("address", models.CharField(max_length=300, verbose_name="Professional address")),
                ("postcode", models.CharField(max_length=5, verbose_name="Postcode")),
                ("town", models.CharField(max_length=100, verbose_name="Town")),
                ("phone", models.CharField(max_length=30, verbose_name="Phone")),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="prescriber_profile",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "prescriber profile",
                "verbose_name_plural": "prescriber profiles",
            },
        ),
    ]
