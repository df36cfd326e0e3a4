"""Demo invoices: every type, in USD and CNY, with detail items and an open balance.

The demo seller is the default one: a hosting company in the United States
(SELLER_COUNTRY=US), outside the EU, that charges China's 6% VAT on value-added telecom
services to its customers in China (a `SellerTaxCountry` row the demo adds, as its admin
would). The demo customer is in Shanghai, so the tax rules give all of its invoices, in USD
and in CNY, 6% (category S); a customer elsewhere pays no tax (O).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction

from accounts.models import Account

from .models import (
    Invoice,
    RateKind,
    RecurringCharge,
    RecurringChargeDetail,
    SellerTaxCountry,
    TaxRate,
)
from .services import (
    ItemSpec,
    billing_date_on_or_before,
    invoice_issue_credit,
    invoice_issue_one_time,
    invoice_issue_refund,
    recurring_run_account,
)

D = Decimal


def _charge(
    account: Account,
    description: str,
    category: str,
    resource: str,
    starts_on: date,
    details: list[tuple[str, str, str, str]] | None = None,
    unit_price: str = "0",
) -> RecurringCharge:
    charge = RecurringCharge.objects.create(
        account=account,
        description=description,
        category=category,
        resource_label=resource,
        unit_price=D(unit_price),
        starts_on=starts_on,
    )
    for position, (text, detail_category, quantity, price) in enumerate(details or [], 1):
        RecurringChargeDetail.objects.create(
            charge=charge,
            position=position,
            description=text,
            category=detail_category,
            quantity=D(quantity),
            unit_price=D(price),
        )
    return charge


@transaction.atomic
def seed_invoices(account: Account, today: date) -> None:
    """Three months of history for `account`, ending `today`. Does nothing the second time."""
    if Invoice.objects.filter(account=account).exists():
        return
    SellerTaxCountry.objects.get_or_create(country="CN", defaults={"kind": RateKind.TELECOM})
    # The rate is loaded by invoices/0006_load_tax_rates; again here for a database emptied
    # since its migrations ran (the browser tests flush theirs).
    TaxRate.objects.get_or_create(
        country="CN",
        kind=RateKind.TELECOM,
        valid_from=date(2016, 5, 1),
        defaults={"rate": D(6), "source": "Caishui [2016] No. 36 (财税〔2016〕36号)"},
    )
    this_cycle = billing_date_on_or_before(account, today)
    start = billing_date_on_or_before(account, this_cycle - timedelta(days=85))
    _charge(
        account,
        "Bare Metal Server",
        "Server",
        "db01.yunfan.example",
        start,
        [
            ("Dual Intel Xeon Silver 4410Y (24 cores)", "Processor", "1", "289.00"),
            ("256 GB RAM", "Memory", "1", "180.00"),
            ("2 × 1.92 TB NVMe SSD (RAID 1)", "Disk", "1", "96.00"),
            ("10 Gbps public and private uplinks", "Network", "1", "45.00"),
            ("Ubuntu 24.04 LTS", "Operating system", "1", "0.00"),
        ],
    )
    _charge(
        account,
        "Virtual Server",
        "Server",
        "web01.yunfan.example",
        start,
        [
            ("8 vCPU", "Processor", "8", "9.50"),
            ("32 GB RAM", "Memory", "32", "2.25"),
            ("200 GB block storage", "Disk", "200", "0.10"),
        ],
    )
    _charge(account, "Local Load Balancer", "Network", "lb01.yunfan.example", start, None, "49.99")
    backup_start = this_cycle + timedelta(days=min(9, (today - this_cycle).days))
    _charge(
        account,
        "Managed Backup",
        "Storage",
        "backup.yunfan.example",
        backup_start,
        [("1 TB backup vault", "Storage", "1", "60.00"), ("Backup agent", "Software", "2", "5.00")],
    )

    overage = [
        ItemSpec(
            description="Bandwidth overage",
            category="Network",
            resource_label="web01.yunfan.example",
            details=(
                ItemSpec(
                    description="Public outbound transfer above 20 TB",
                    category="Network",
                    quantity=D("1843.5"),
                    unit_price=D("0.05"),
                ),
                ItemSpec(
                    description="Burst above 95th percentile (2 days)",
                    category="Network",
                    quantity=D("2"),
                    unit_price=D("35.00"),
                ),
            ),
        ),
        ItemSpec(description="SSL certificate (1 year)", category="Security", unit_price=D("149")),
    ]
    icp = [ItemSpec(description="ICP 备案代办服务", category="服务", unit_price=D("800.00"))]
    cdn = [
        ItemSpec(
            description="中国大陆 CDN 流量",
            category="网络",
            details=(
                ItemSpec(description="华东节点流量 (GB)", quantity=D("5230"), unit_price=D("0.21")),
                ItemSpec(description="华南节点流量 (GB)", quantity=D("3120"), unit_price=D("0.21")),
            ),
        )
    ]

    def first_of(kind: str) -> Invoice:
        return Invoice.objects.filter(account=account, type=kind).order_by("pk")[0]

    # What happens on which day after the start, in the order it happened.
    events = {
        3: lambda day: invoice_issue_credit(
            original=first_of(Invoice.Type.NEW),
            amount=D("500.00"),
            reason="Migration credit",
            issue_date=day,
        ),
        14: lambda day: invoice_issue_one_time(account=account, items=overage, issue_date=day),
        20: lambda day: invoice_issue_refund(
            original=first_of(Invoice.Type.NEW),
            amount=D("45.00"),
            reason="Unused network uplink returned",
            issue_date=day,
        ),
        36: lambda day: invoice_issue_credit(
            original=first_of(Invoice.Type.RECURRING),
            amount=D("120.00"),
            reason="SLA credit: 4 hours of network outage",
            issue_date=day,
        ),
        # A few invoices in Chinese yuan for services billed in mainland China (6% VAT by
        # the rules, as every invoice of this customer in China).
        45: lambda day: invoice_issue_one_time(
            account=account, currency="CNY", items=icp, issue_date=day
        ),
        (today - start).days - 3: lambda day: invoice_issue_one_time(
            account=account, currency="CNY", items=cdn, issue_date=day
        ),
    }
    day = start
    while day <= today:
        recurring_run_account(account=account, day=day)
        event = events.get((day - start).days)
        if event is not None:
            event(day)
        day += timedelta(days=1)
