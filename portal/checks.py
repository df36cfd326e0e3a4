"""System checks of the task queue's configuration (Django's check framework)."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core import checks

# The slowest a gateway answers in normal running (DESIGN: 0.5-3 s), the time a retried task
# (an email with its PDF, a card verification) may take once its wait is over, and the most
# it takes to issue an account's invoices and record its charge (the benchmark: about 10 ms
# on a 2-core machine under load).
SLOWEST_GATEWAY_ANSWER = 3
SLOWEST_RETRIED_TASK = 60
SLOWEST_ACCOUNT_WORK = 0.05


def register() -> None:
    checks.register(check_visibility_timeout, "portal")
    checks.register(check_seller_tax_data, "portal")
    checks.register(check_seller_tax_data_deploy, "portal", deploy=True)


def longest_chunk_seconds() -> int:
    """How long a billing chunk may take: its charges made BILLING_CHARGE_CONCURRENCY at a
    time, each answered at the slowest, and no faster than GATEWAY_MAX_REQUESTS_PER_SECOND
    lets them through; plus its accounts' own work."""
    size = int(settings.BILLING_CHUNK_SIZE)
    calls = math.ceil(size / int(settings.BILLING_CHARGE_CONCURRENCY)) * SLOWEST_GATEWAY_ANSWER
    if limit := float(settings.GATEWAY_MAX_REQUESTS_PER_SECOND):
        rate = limit * (1 - float(settings.GATEWAY_RATE_LIMIT_HEADROOM))
        calls = max(calls, math.ceil(size / rate))
    return calls + math.ceil(size * SLOWEST_ACCOUNT_WORK)


def check_visibility_timeout(**kwargs: Any) -> list[checks.CheckMessage]:
    """BROKER_VISIBILITY_TIMEOUT is longer than a task waits for its retry and runs then
    (else Redis hands it to a second worker while the first still holds it), and longer than
    the longest task, a billing chunk (else a slow chunk runs twice at once)."""
    timeout = settings.BROKER_VISIBILITY_TIMEOUT
    problems: list[checks.CheckMessage] = []
    if timeout <= 0:
        return [checks.Error("BROKER_VISIBILITY_TIMEOUT must be above 0.", id="portal.E003")]
    if timeout <= settings.TASK_RETRY_MAX_DELAY + SLOWEST_RETRIED_TASK:
        problems.append(
            checks.Error(
                f"BROKER_VISIBILITY_TIMEOUT ({timeout} s) must be longer than the longest "
                f"retry delay, TASK_RETRY_MAX_DELAY ({settings.TASK_RETRY_MAX_DELAY} s), plus "
                f"{SLOWEST_RETRIED_TASK} s for the retried task to run: a task waiting for "
                "its retry would be handed to a second worker meanwhile.",
                hint="Raise BROKER_VISIBILITY_TIMEOUT or lower TASK_RETRY_MAX_DELAY.",
                id="portal.E001",
            )
        )
    if longest_chunk_seconds() >= timeout:
        problems.append(
            checks.Error(
                f"BROKER_VISIBILITY_TIMEOUT ({timeout} s) must be longer than a billing chunk "
                f"may run ({longest_chunk_seconds()} s): BILLING_CHUNK_SIZE "
                f"({settings.BILLING_CHUNK_SIZE}) accounts, charged "
                f"BILLING_CHARGE_CONCURRENCY ({settings.BILLING_CHARGE_CONCURRENCY}) at a time "
                f"at up to {SLOWEST_GATEWAY_ANSWER} s each, within the rate limit. A slower "
                "chunk would be handed to a second worker while the first still runs it.",
                hint=(
                    "Lower BILLING_CHUNK_SIZE, raise BILLING_CHARGE_CONCURRENCY or raise "
                    "BROKER_VISIBILITY_TIMEOUT. Workers share the rate limit: with many of "
                    "them, keep BILLING_CHUNK_SIZE x workers / GATEWAY_MAX_REQUESTS_PER_SECOND "
                    "well under the timeout too."
                ),
                id="portal.E002",
            )
        )
    return problems


def check_seller_tax_data(**kwargs: Any) -> list[checks.CheckMessage]:
    """The seller's VAT number is well formed (python-stdnum: format and check digits) and
    its country is an ISO 3166 code: invoices print them and the tax rules depend on them.

    A seller outside the EU and the UK may give another tax registration number instead
    (a US EIN, say): one that does not begin with a country's letters is not a VAT number,
    and the e-invoice states it as the seller's tax and legal registration."""
    from stdnum.eu import vat as eu_vat
    from stdnum.exceptions import ValidationError as StdnumError
    from stdnum.gb import vat as gb_vat

    from accounts.tax_ids import EU_MEMBER_STATES

    problems: list[checks.CheckMessage] = []
    country = str(settings.SELLER_COUNTRY)
    if len(country) != 2 or not country.isalpha():
        problems.append(
            checks.Error(
                f"SELLER_COUNTRY ({country!r}) must be a two-letter ISO 3166 code, e.g. DE.",
                id="portal.E010",
            )
        )
    vat_id = str(settings.SELLER_VAT_ID)
    is_vat_seller = country in EU_MEMBER_STATES or country == "GB"
    if vat_id and (is_vat_seller or vat_id[:2].isalpha()):
        validator = gb_vat if country == "GB" else eu_vat
        try:
            validator.validate(vat_id)
        except StdnumError as error:
            problems.append(
                checks.Error(
                    f"SELLER_VAT_ID ({vat_id!r}) is not a valid VAT number: {error}",
                    hint="Give the number with its country prefix, e.g. DE136695976.",
                    id="portal.E011",
                )
            )
    elif not vat_id and country in EU_MEMBER_STATES:
        problems.append(
            checks.Warning(
                "SELLER_VAT_ID is empty for a seller in the EU: invoices need the seller's "
                "VAT number (and a reverse-charge invoice both numbers).",
                id="portal.W010",
            )
        )
    return problems


def check_seller_tax_data_deploy(**kwargs: Any) -> list[checks.CheckMessage]:
    """In production the seller has an identifier: a seller in the EU its VAT number (the
    W010 above, as an error), any other seller its VAT number or tax registration number,
    without which no e-invoice passes EN 16931 (BR-CO-26: the seller's VAT identifier, tax
    registration identifier or legal registration identifier)."""
    from accounts.tax_ids import EU_MEMBER_STATES

    if settings.SELLER_VAT_ID:
        return []
    if str(settings.SELLER_COUNTRY) in EU_MEMBER_STATES:
        return [checks.Error("SELLER_VAT_ID must be set for a seller in the EU.", id="portal.E012")]
    return [
        checks.Error(
            "SELLER_VAT_ID is empty: the seller's invoices carry no identifier of the seller, "
            "and no e-invoice passes EN 16931 (rule BR-CO-26).",
            hint="Set SELLER_VAT_ID to the seller's VAT number or, outside the EU and the UK, "
            "its tax registration number (e.g. a US EIN, 12-3456789).",
            id="portal.E013",
        )
    ]
