"""Load the standard VAT rates of the 27 EU member states and China's rate for value-added
telecommunication services.

Where the figures come from: the European Commission's list "VAT rates applied in the Member
States of the European Union" (DG TAXUD, published on taxation-customs.ec.europa.eu under
"VAT rates", and the Taxes in Europe Database, TEDB), cross-checked against the national
changes announced since: Finland 25.5% from 1 September 2024 (was 24%), Slovakia 23% from
1 January 2025 (was 20%), Estonia 24% from 1 July 2025 (was 22%), Romania 21% from
1 August 2025 (was 19%); Luxembourg back to 17% from 1 January 2024. These are the rates in
force on 1 December 2026. The table starts on 1 January 2024: for the four countries whose
rate changed since, the earlier rate is loaded too, up to its last day.

China: value-added telecommunication services (IDC, CDN, ICP hosting) are taxed at 6% since
the VAT reform of 1 May 2016 (Caishui [2016] No. 36, 财税〔2016〕36号).

Rates change: staff edit them in the admin (Invoices > Tax rates): a new rate is a new row
from its first day, and the row it replaces gets its last day.
"""

from datetime import date
from decimal import Decimal

from django.db import migrations

EC = "European Commission, VAT rates applied in the Member States of the EU (TEDB)"
START = date(2024, 1, 1)

# (country, standard rate, in force from); every one in force on 2026-12-01.
STANDARD_RATES = [
    ("AT", "20", START),
    ("BE", "21", START),
    ("BG", "20", START),
    ("CY", "19", START),
    ("CZ", "21", START),
    ("DE", "19", START),
    ("DK", "25", START),
    ("EE", "24", date(2025, 7, 1)),
    ("ES", "21", START),
    ("FI", "25.5", date(2024, 9, 1)),
    ("FR", "20", START),
    ("GR", "24", START),
    ("HR", "25", START),
    ("HU", "27", START),
    ("IE", "23", START),
    ("IT", "22", START),
    ("LT", "21", START),
    ("LU", "17", START),
    ("LV", "21", START),
    ("MT", "18", START),
    ("NL", "21", START),
    ("PL", "23", START),
    ("PT", "23", START),
    ("RO", "21", date(2025, 8, 1)),
    ("SE", "25", START),
    ("SI", "22", START),
    ("SK", "23", date(2025, 1, 1)),
]

# (country, rate, from, to): the rates the four changes above replaced.
EARLIER_RATES = [
    ("EE", "22", START, date(2025, 6, 30)),
    ("FI", "24", START, date(2024, 8, 31)),
    ("RO", "19", START, date(2025, 7, 31)),
    ("SK", "20", START, date(2024, 12, 31)),
]


def load(apps, schema_editor):
    TaxRate = apps.get_model("invoices", "TaxRate")
    rows = [
        TaxRate(country=c, kind="standard", vat_category="S", rate=Decimal(r), valid_from=f,
                source=EC)
        for c, r, f in STANDARD_RATES
    ] + [
        TaxRate(country=c, kind="standard", vat_category="S", rate=Decimal(r), valid_from=f,
                valid_to=t, source=EC)
        for c, r, f, t in EARLIER_RATES
    ]
    rows.append(
        TaxRate(country="CN", kind="telecom", vat_category="S", rate=Decimal(6),
                valid_from=date(2016, 5, 1), source="Caishui [2016] No. 36 (财税〔2016〕36号)")
    )
    TaxRate.objects.bulk_create(rows, ignore_conflicts=True)


def unload(apps, schema_editor):
    TaxRate = apps.get_model("invoices", "TaxRate")
    for c, _r, f in STANDARD_RATES:
        TaxRate.objects.filter(country=c, kind="standard", valid_from=f).delete()
    for c, _r, f, _t in EARLIER_RATES:
        TaxRate.objects.filter(country=c, kind="standard", valid_from=f).delete()
    TaxRate.objects.filter(country="CN", kind="telecom", valid_from=date(2016, 5, 1)).delete()


class Migration(migrations.Migration):
    dependencies = [("invoices", "0005_tax_rates")]

    operations = [migrations.RunPython(load, unload)]
