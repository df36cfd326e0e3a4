"""A payment names the invoice it pays first (`pay_first`), instead of the automatic charge it
was made for: the monthly cycle moves to the billing app, which payments must not know."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_invoice_of_autocharge(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    AutoCharge = apps.get_model("payments", "AutoCharge")
    Payment.objects.filter(autocharge__isnull=False).update(
        pay_first=Subquery(
            AutoCharge.objects.filter(pk=OuterRef("autocharge_id")).values("invoice_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0003_remove_invoice_invoice_one_recurring_per_period"),
        ("payments", "0002_payments_and_monthly_cycle"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="pay_first",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="invoices.invoice",
                verbose_name="paid first",
            ),
        ),
        migrations.RunPython(copy_invoice_of_autocharge, migrations.RunPython.noop),
    ]
