"""Account phone numbers in E.164, as the settings form now keeps them. A value that is not
a valid number (saved before numbers were checked) is left as it was written."""

from __future__ import annotations

import phonenumbers
from django.db import migrations


def _e164(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phones(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    Account = apps.get_model("accounts", "Account")
    for account in Account.objects.exclude(phone="").only("pk", "phone", "country").iterator():
        e164 = _e164(account.phone, str(account.country or ""))
        if e164 and e164 != account.phone:
            Account.objects.filter(pk=account.pk).update(phone=e164)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_outboundemail_next_attempt_at"),
    ]

    operations = [
        # Going back leaves the numbers in E.164, which the earlier code reads as text.
        migrations.RunPython(normalise_phones, migrations.RunPython.noop, elidable=True),
    ]
