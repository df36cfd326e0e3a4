"""Demo users, accounts and invoices for a first run and for trying the portal (idempotent)."""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account, Membership, TaxIdKind, TaxIdStatus, User
from accounts.progress import progress
from invoices.demo import seed_invoices
from payments.demo import seed_payment_methods, seed_payments

DEMO_CUSTOMER = ("demo@example.com", "demo-pass-2026")
DEMO_REP = ("rep@example.com", "rep-pass-2026")
DEMO_OTHER = ("other@example.com", "other-pass-2026")
# The representative's second factor for the admin (add it to any TOTP app).
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP"  # noqa: S105 (demo value, printed by make run)


class Command(BaseCommand):
    help = (
        "Create the demo users, accounts and invoices (safe to run again: nothing is duplicated)."
    )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        demo_account, _ = Account.objects.update_or_create(
            company_name="上海云帆科技有限公司",
            defaults={
                "address_line1": "浦东新区世纪大道100号",
                "address_line2": "环球金融中心45楼",
                "city": "上海市",
                "region": "上海",
                "postal_code": "200120",
                "country": "CN",
                "phone": "+862155550100",
                "currency": "USD",
                "billing_day": 1,
                "language": "zh-hans",
                # A demo unified social credit code (check character computed by stdnum)
                # and the invoice title a fapiao would carry.
                "tax_id_kind": TaxIdKind.CN_USCC,
                "tax_id": "91310115MA1K4ABCDD",
                "invoice_title": "上海云帆科技有限公司",
                "tax_id_status": TaxIdStatus.VALID,
            },
        )
        other_account, _ = Account.objects.update_or_create(
            company_name="Northwind Hosting Ltd",
            defaults={
                "address_line1": "12 Harbour Street",
                "city": "Dublin",
                "postal_code": "D02 XY45",
                "country": "IE",
                "phone": "+35315550199",
                "currency": "EUR",
                "billing_day": 15,
                "eu_supported": True,
            },
        )
        demo = _user(*DEMO_CUSTOMER, full_name="王小明")
        other = _user(*DEMO_OTHER, full_name="Aoife Byrne")
        rep = _user(*DEMO_REP, full_name="Riley Rep", is_staff=True)
        rep.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label__in=["payments", "invoices", "accounts"],
                codename__in=[
                    "approve_paymentmethod",
                    "view_paymentmethod",
                    "view_gatewayattempt",
                    "view_payment",
                    "refund_payment",
                    "view_invoice",
                    "add_invoice",
                    "view_recurringcharge",
                    "change_recurringcharge",
                    "add_recurringcharge",
                    "view_account",
                ],
            )
        )
        Membership.objects.update_or_create(
            user=demo, account=demo_account, defaults={"role": Membership.Role.OWNER}
        )
        Membership.objects.update_or_create(
            user=other, account=other_account, defaults={"role": Membership.Role.OWNER}
        )
        TOTPDevice.objects.update_or_create(
            user=rep,
            name="Demo authenticator",
            defaults={"key": base64.b32decode(DEMO_TOTP_SECRET).hex(), "confirmed": True},
        )
        # The slow part (the invoices and their PDFs): shown as it goes.
        steps = [
            ("invoices", partial(seed_invoices, demo_account, timezone.localdate())),
            ("cards", partial(seed_payment_methods, demo_account, demo, rep)),
            ("payments", partial(seed_payments, demo_account, demo)),
        ]
        with progress(self.stdout, total=len(steps), description="Demo data", unit="steps") as p:
            for name, step in steps:
                step()
                p.advance(**{name: 1})
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        self.stdout.write(
            "\n".join(
                [
                    "Demo logins (demo values only):",
                    f"  customer:               {DEMO_CUSTOMER[0]} / {DEMO_CUSTOMER[1]}",
                    f"  account representative: {DEMO_REP[0]} / {DEMO_REP[1]}"
                    f"  (admin at /admin/, TOTP secret {DEMO_TOTP_SECRET})",
                    f"  another account:        {DEMO_OTHER[0]} / {DEMO_OTHER[1]}",
                ]
            )
        )


def _user(email: str, password: str, **fields: Any) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        return User.objects.create_user(email, password, **fields)
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, fields[name])
    if not user.check_password(password):
        user.set_password(password)
        changed.append("password")
    if changed:
        user.save(update_fields=changed)
    return user
