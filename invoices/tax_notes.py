"""The legal notes an invoice prints about its VAT treatment, by the key stored on it.

`Invoice.tax_note` holds a key, never text, so that each reader sees the note in their own
language; this is the one place that turns a key into its text.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

REVERSE_CHARGE = "reverse_charge"
OUTSIDE_SCOPE = "outside_scope"
NOT_SUBJECT = "not_subject"


def tax_note_text(key: str) -> str:
    """The note for `key` in the active language; "" for no note (or a key unknown here)."""
    notes = {
        REVERSE_CHARGE: _(
            "Reverse charge: VAT to be accounted for by the recipient, "
            "Article 196 of Directive 2006/112/EC"
        ),
        OUTSIDE_SCOPE: _(
            "Outside the scope of EU VAT: the customer is established outside the "
            "European Union (Article 44 of Directive 2006/112/EC)"
        ),
        NOT_SUBJECT: _(
            "No VAT charged: the seller is not registered for VAT in the customer's country"
        ),
    }
    return notes.get(key, "")


# The kinds of tax ID an invoice's buyer may have (`Invoice.buyer_tax_id_kind`).
EU_VAT = "eu_vat"
GB_VAT = "gb_vat"
CN_USCC = "cn_uscc"
OTHER = "other"


def tax_id_label(kind: str) -> str:
    """How a document labels a tax ID of `kind`, in the active language."""
    labels = {
        EU_VAT: _("VAT number"),
        GB_VAT: _("UK VAT number"),
        CN_USCC: _("Unified social credit code"),
    }
    return labels.get(kind, _("Tax ID"))


# The member states of the European Union (ISO codes; Greece's VAT numbers begin "EL").
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


def seller_tax_id_label(country: str, tax_id: str) -> str:
    """How a document labels the seller's tax ID: a VAT number for a seller in the EU or the
    UK whose ID begins with its country's letters, else a tax ID."""
    if tax_id[:2].isalpha() and (country in EU_COUNTRIES or country == "GB"):
        return tax_id_label(GB_VAT if country == "GB" else EU_VAT)
    return tax_id_label(OTHER)
