"""The Invoices page's spend chart: the last twelve months of charges by category, per currency.

One aggregate query sums the top-level items of the account's charge invoices (New,
Recurring, One-time) by currency, month and category; everything else is arithmetic on those
sums, so the page costs the same for ten invoices as for ten thousand. The chart is drawn
here as SVG geometry (no JavaScript, nothing from a CDN) and the template writes it out with
a title, a description and the same figures as a table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal

from babel.dates import format_skeleton
from django.db.models import Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import formats
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext as _

from accounts.models import Account

from .models import Invoice, InvoiceItem
from .money import format_money, round_money

MONTHS = 12
# Categories drawn in colours of their own; any more are summed as "Other" (the palette's
# colours stay distinguishable, and a legend of a dozen entries would not be read).
MAX_SERIES = 7

# The drawing's coordinate system (the SVG scales to its container's width).
WIDTH = 480
HEIGHT = 250
LEFT = 88
RIGHT = 8
TOP = 12
BOTTOM = 42
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BAND = PLOT_WIDTH / MONTHS
BAR = BAND * 0.66


@dataclass
class Series:
    """One category: its name, its colour (a CSS class) and its twelve months' total."""

    name: str
    css: str
    total: Decimal = Decimal(0)
    total_label: str = ""


def _svg(value: float) -> str:
    """A coordinate as the SVG writes it (never localised: "12.5", not "12,5")."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass
class Segment:
    series: Series
    amount: Decimal
    label: str
    y: float
    height: float

    @property
    def svg_y(self) -> str:
        return _svg(self.y)

    @property
    def svg_height(self) -> str:
        return _svg(self.height)


@dataclass
class Month:
    start: date
    short: str
    year: str
    long: str
    x: float
    center: float
    amounts: list[Decimal] = field(default_factory=list)
    # The amounts as the table writes them, one per series.
    cells: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    total: Decimal = Decimal(0)
    total_label: str = ""

    @property
    def svg_x(self) -> str:
        return _svg(self.x)

    @property
    def svg_center(self) -> str:
        return _svg(self.center)


@dataclass
class Tick:
    label: str
    y: float

    @property
    def svg_y(self) -> str:
        return _svg(self.y)


@dataclass
class SpendChart:
    currency: str
    series: list[Series]
    months: list[Month]
    ticks: list[Tick]
    total: Decimal
    total_label: str
    title: str
    description: str
    slug: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM
    top: int = TOP
    bar: str = _svg(BAR)


def _month_starts(today: date) -> list[date]:
    """The first days of the twelve months ending with this one, oldest first."""
    year, month = today.year, today.month
    starts = []
    for _i in range(MONTHS):
        starts.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return starts[::-1]


def spend_by_month(account: Account, *, today: date) -> dict[str, dict[tuple[date, str], Decimal]]:
    """What the account was charged in the last twelve months, by currency, then by (first
    day of the month, category): one query."""
    first = _month_starts(today)[0]
    rows = (
        InvoiceItem.objects.filter(
            invoice__account=account,
            invoice__type__in=Invoice.CHARGE_TYPES,
            invoice__issue_date__gte=first,
            invoice__issue_date__lte=today,
        )
        # Detail items are the breakdown of their item: counted once, through it. Written
        # as an expression, not `parent IS NULL`, so that PostgreSQL cannot read it from the
        # parent index: it would then scan every top-level item of the account's whole
        # history (88,000 in bench/, 2-3x slower) instead of the items of the window's
        # invoices through the invoice index.
        .alias(top_level=Coalesce("parent_id", 0))
        .filter(top_level=0)
        .annotate(month=TruncMonth("invoice__issue_date"))
        .values("invoice__currency", "month", "category")
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    sums: dict[str, dict[tuple[date, str], Decimal]] = defaultdict(dict)
    for row in rows:
        key = (row["month"], row["category"].strip())
        by_key = sums[row["invoice__currency"]]
        by_key[key] = by_key.get(key, Decimal(0)) + row["amount"]
    return dict(sums)


def _nice_step(top: Decimal) -> Decimal:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that reaches `top` in four."""
    raw = top / 4
    magnitude = Decimal(10) ** raw.adjusted()
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10  # pragma: no cover (10 is always enough)


def _chart(
    currency: str, sums: dict[tuple[date, str], Decimal], starts: list[date], locale: str
) -> SpendChart:
    by_category: dict[str, Decimal] = defaultdict(Decimal)
    for (_day, category), amount in sums.items():
        by_category[category] += amount
    # Largest first (the bottom of each bar), then by name: the same order every time.
    # Items without a category are "Other" too, with whatever does not get a colour.
    names = sorted(
        (name for name in by_category if name), key=lambda name: (-by_category[name], name)
    )
    uncategorised = "" in by_category
    if len(names) + uncategorised > MAX_SERIES:
        kept, folded = names[: MAX_SERIES - 1], True
    else:
        kept, folded = names, uncategorised
    series = [Series(name=name, css=f"chart-s{index}") for index, name in enumerate(kept)]
    if folded:
        series.append(Series(name=_("Other"), css=f"chart-s{len(series)}"))
    index_of = {name: i for i, name in enumerate(kept)}

    months = []
    for position, start in enumerate(starts):
        amounts = [Decimal(0)] * len(series)
        for (day, category), amount in sums.items():
            if day == start:
                amounts[index_of.get(category, len(series) - 1)] += amount
        amounts = [round_money(amount, currency) for amount in amounts]
        months.append(
            Month(
                start=start,
                short=format_skeleton("MMM", start, locale=locale),
                year=format_skeleton("y", start, locale=locale)
                if position == 0 or start.month == 1
                else "",
                long=formats.date_format(start, "YEAR_MONTH_FORMAT"),
                x=LEFT + position * BAND + (BAND - BAR) / 2,
                center=LEFT + position * BAND + BAND / 2,
                amounts=amounts,
                total=sum(amounts, Decimal(0)),
            )
        )
    for i, one in enumerate(series):
        one.total = sum((month.amounts[i] for month in months), Decimal(0))
        one.total_label = format_money(one.total, currency)

    highest = max(months, key=lambda month: month.total)
    step = _nice_step(highest.total) if highest.total > 0 else Decimal(1)
    steps = max(1, int((highest.total / step).to_integral_value(rounding=ROUND_CEILING)))
    top = step * steps
    scale = PLOT_HEIGHT / float(top)
    baseline = HEIGHT - BOTTOM
    ticks = [
        Tick(label=format_money(step * n, currency), y=baseline - float(step * n) * scale)
        for n in range(steps + 1)
    ]
    for month in months:
        month.total_label = format_money(month.total, currency)
        month.cells = [format_money(amount, currency) for amount in month.amounts]
        y = float(baseline)
        for i, amount in enumerate(month.amounts):
            if amount <= 0:
                continue
            height = float(amount) * scale
            y -= height
            month.segments.append(
                Segment(
                    series=series[i],
                    amount=amount,
                    label=format_money(amount, currency),
                    y=y,
                    height=height,
                )
            )

    total = sum((month.total for month in months), Decimal(0))
    first, last = months[0], months[-1]
    return SpendChart(
        currency=currency,
        series=series,
        months=months,
        ticks=ticks,
        total=total,
        total_label=format_money(total, currency),
        title=_("Charges by category, last 12 months (%(currency)s)") % {"currency": currency},
        description=_(
            "Stacked bars, one a month from %(first)s to %(last)s, of the charges before tax "
            "on New, Recurring and One-time invoices, by category. %(total)s in all; the "
            "highest month is %(month)s with %(amount)s. The figures are in the table that "
            "follows."
        )
        % {
            "first": first.long,
            "last": last.long,
            "total": format_money(total, currency),
            "month": highest.long,
            "amount": highest.total_label,
        },
        slug=currency.lower(),
    )


def spend_charts(account: Account, *, today: date) -> list[SpendChart]:
    """The spend chart of every currency the account was charged in over the last twelve
    months (its own currency first), empty months as zero; [] if it was charged nothing."""
    sums = spend_by_month(account, today=today)
    starts = _month_starts(today)
    locale = to_locale(get_language() or "en")
    currencies = sorted(sums, key=lambda currency: (currency != account.currency, currency))
    return [_chart(currency, sums[currency], starts, locale) for currency in currencies]
