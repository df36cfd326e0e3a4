"""The monthly cycle's tables, permissions and audit entries take billing's names."""

from django.db import migrations

# The audit actions as the payments app named them, and as billing names them.
ACTIONS = {
    "payments.autocharge.started": "billing.autocharge.started",
    "payments.autocharge.declined": "billing.autocharge.declined",
    "payments.autocharge.no_card": "billing.autocharge.no_card",
    "payments.late_fee.charged": "billing.late_fee.charged",
    "payments.late_fee.waived": "billing.late_fee.waived",
}
MODELS = ("autocharge", "latefee")


def _rename(apps, *, names, app_from, app_to):
    AuditEntry = apps.get_model("accounts", "AuditEntry")
    for old, new in names.items():
        AuditEntry.objects.filter(action=old).update(action=new)
    # Permissions belong to the content type: moving it keeps who may see what.
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=app_to, model=model).exists():
            ContentType.objects.filter(app_label=app_from, model=model).update(app_label=app_to)


def forwards(apps, schema_editor):
    _rename(apps, names=ACTIONS, app_from="payments", app_to="billing")


def backwards(apps, schema_editor):
    _rename(
        apps, names={new: old for old, new in ACTIONS.items()}, app_from="billing", app_to="payments"
    )
    # The payments link to automatic charges had no model of its own before.
    apps.get_model("contenttypes", "ContentType").objects.filter(
        app_label="billing", model="autochargepayment"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_outboundemail_html_body"),
        ("billing", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("payments", "0004_the_monthly_cycle_moves_to_billing"),
    ]

    operations = [
        migrations.AlterModelTable(name="autocharge", table=None),
        migrations.AlterModelTable(name="latefee", table=None),
        migrations.RunPython(forwards, backwards),
    ]
