"""The monthly cycle's models are the billing app's now (billing 0001 took them over with
their rows and copied the payments' links to their automatic charges): payments forgets
them and drops the link column."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("payments", "0003_payment_pay_first"),
    ]

    operations = [
        migrations.RemoveField(model_name="payment", name="autocharge"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="LateFee"),
                migrations.DeleteModel(name="AutoCharge"),
            ],
            database_operations=[],
        ),
    ]
