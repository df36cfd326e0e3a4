"""How documents label tax IDs and print the VAT notes (whose texts live in invoices.tax).

`Invoice.tax_note` holds a key, never text, so that each reader sees the note in their own
language; `invoices.tax.tax_note_text` turns a key into its text.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from accounts.models import TaxIdKind
from accounts.tax_ids import EU_MEMBER_STATES

from .tax import TaxNote, tax_note_text

__all__ = ["seller_tax_id_label", "tax_id_label", "tax_note_text"]

REVERSE_CHARGE = TaxNote.REVERSE_CHARGE.value
OUTSIDE_SCOPE = TaxNote.OUTSIDE_EU.value
NOT_SUBJECT = TaxNote.NOT_CHARGED.value


# The kinds of tax ID an invoice's buyer may have (`Invoice.buyer_tax_id_kind`).
EU_VAT = TaxIdKind.EU_VAT.value
GB_VAT = TaxIdKind.GB_VAT.value
CN_USCC = TaxIdKind.CN_USCC.value
OTHER = TaxIdKind.OTHER.value


def tax_id_label(kind: str) -> str:
    """How a document labels a tax ID of `kind`, in the active language."""
    labels = {
        EU_VAT: _("VAT number"),
        GB_VAT: _("UK VAT number"),
        CN_USCC: _("Unified social credit code"),
    }
    return labels.get(kind, _("Tax ID"))


def seller_tax_id_label(country: str, tax_id: str) -> str:
    """How a document labels the seller's tax ID: a VAT number for a seller in the EU or the
    UK whose ID begins with its country's letters, else a tax ID."""
    if tax_id[:2].isalpha() and (country in EU_MEMBER_STATES or country == "GB"):
        return tax_id_label(GB_VAT if country == "GB" else EU_VAT)
    return tax_id_label(OTHER)
