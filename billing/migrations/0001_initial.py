"""The monthly cycle's models move from the payments app to billing, keeping every row.

AutoCharge and LateFee keep their tables (`payments_autocharge`, `payments_latefee`; the
next migration renames them): this one only tells Django they are billing's now. The link
from a payment to the automatic charge it was made for becomes billing's own
(`AutoChargePayment`), copied from `payments_payment.autocharge_id`, which payments then
drops (payments 0004).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def copy_payment_links(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    AutoChargePayment = apps.get_model("billing", "AutoChargePayment")
    links = Payment.objects.filter(autocharge__isnull=False).values_list("pk", "autocharge_id")
    AutoChargePayment.objects.bulk_create(
        [
            AutoChargePayment(payment_id=payment_id, autocharge_id=autocharge_id)
            for payment_id, autocharge_id in links.iterator(chunk_size=2000)
        ],
        batch_size=2000,
    )


def copy_links_back(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    AutoChargePayment = apps.get_model("billing", "AutoChargePayment")
    for link in AutoChargePayment.objects.iterator(chunk_size=2000):
        Payment.objects.filter(pk=link.payment_id).update(autocharge_id=link.autocharge_id)


STATES = [
    ("scheduled", "Scheduled"),
    ("charging", "Charging"),
    ("no_card", "Waiting for a usable card"),
    ("succeeded", "Paid by the card on file"),
    ("stopped", "Paid otherwise"),
    ("failed", "Retries exhausted"),
]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0003_outboundemail_html_body"),
        ("invoices", "0003_remove_invoice_invoice_one_recurring_per_period"),
        ("payments", "0003_payment_pay_first"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AutoCharge",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("state", models.CharField(choices=STATES, default="scheduled", max_length=16, verbose_name="state")),
                        ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="charges tried")),
                        ("declines", models.PositiveSmallIntegerField(default=0, verbose_name="declines")),
                        ("processing_errors", models.PositiveSmallIntegerField(default=0, verbose_name="processing errors")),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True, verbose_name="next attempt")),
                        ("first_declined_at", models.DateTimeField(blank=True, null=True, verbose_name="first declined")),
                        ("decline_code", models.CharField(blank=True, max_length=32, verbose_name="last decline")),
                        ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="scheduled")),
                        ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated")),
                        ("account", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="autocharges", to="accounts.account", verbose_name="account")),
                        ("invoice", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="autocharge", to="invoices.invoice", verbose_name="invoice")),
                    ],
                    options={
                        "verbose_name": "automatic charge",
                        "verbose_name_plural": "automatic charges",
                        "ordering": ["-created_at", "-pk"],
                        "db_table": "payments_autocharge",
                        "indexes": [
                            models.Index(condition=models.Q(("state__in", ["scheduled", "no_card"])), fields=["next_attempt_at"], name="autocharge_due"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="LateFee",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("period", models.PositiveSmallIntegerField(verbose_name="period")),
                        ("overdue", models.DecimalField(decimal_places=3, max_digits=18, verbose_name="overdue balance")),
                        ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="charged")),
                        ("fee_invoice", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="late_fee_of", to="invoices.invoice", verbose_name="fee invoice")),
                        ("invoice", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="late_fees", to="invoices.invoice", verbose_name="overdue invoice")),
                        ("waived_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="waived by")),
                        ("waiver", models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="late_fee_waived", to="invoices.invoice", verbose_name="waiver credit")),
                    ],
                    options={
                        "verbose_name": "late fee",
                        "verbose_name_plural": "late fees",
                        "ordering": ["-created_at", "-pk"],
                        "db_table": "payments_latefee",
                        "constraints": [
                            models.UniqueConstraint(fields=("invoice", "period"), name="late_fee_once_per_period"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.CreateModel(
            name="AutoChargePayment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("autocharge", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="payment_links", to="billing.autocharge", verbose_name="automatic charge")),
                ("payment", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="autocharge_link", to="payments.payment", verbose_name="payment")),
            ],
            options={
                "verbose_name": "automatic charge payment",
                "verbose_name_plural": "automatic charge payments",
                "ordering": ["pk"],
            },
        ),
        migrations.AddField(
            model_name="autocharge",
            name="payments",
            field=models.ManyToManyField(related_name="autocharges", through="billing.AutoChargePayment", to="payments.payment", verbose_name="payments"),
        ),
        migrations.RunPython(copy_payment_links, copy_links_back),
    ]
