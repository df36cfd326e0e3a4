"""Every invoice of the demo (`make run`: `manage.py seed_demo` with the run target's
configuration) is a valid EN 16931 e-invoice that names its seller."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from invoices.einvoice import invoice_cii_xml
from invoices.einvoice_check import einvoice_problems, failed_rules
from invoices.models import Invoice

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
PRINT = '_print_demo_seller_vat_id: ; @printf "%s" "$(DEMO_SELLER_VAT_ID)"'


def _run_target_seller_vat_id(tmp_path: Path, env_file_text: str = "", **env: str) -> str:
    """The SELLER_VAT_ID the Makefile's `run` target exports, for an environment with no
    seller settings but `env`, and a .env file of its own holding `env_file_text`."""
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SELLER_")}
    env_file = tmp_path / "demo.env"
    env_file.write_text(env_file_text)
    result = subprocess.run(
        ["make", "-s", "-C", str(REPO), f"--eval={PRINT}", "_print_demo_seller_vat_id"],
        env=clean | {"ENV_FILE": str(env_file)} | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_the_run_target_gives_the_demo_seller_an_identifier_only_when_none_is_configured(
    tmp_path: Path,
) -> None:
    assert _run_target_seller_vat_id(tmp_path) == "12-3456789"
    assert _run_target_seller_vat_id(tmp_path, SELLER_VAT_ID="DE136695976") == ""
    assert _run_target_seller_vat_id(tmp_path, SELLER_COUNTRY="DE") == ""
    assert _run_target_seller_vat_id(tmp_path, "SELLER_VAT_ID=FR40303265045\n") == ""


@pytest.fixture
def run_target_seller(settings, tmp_path: Path) -> str:
    """The settings the demo runs with under `make run` (the Makefile's own value)."""
    vat_id = _run_target_seller_vat_id(tmp_path)
    settings.SELLER_VAT_ID = vat_id
    return vat_id


def test_every_demo_invoice_is_a_valid_einvoice(run_target_seller: str, demo: Account) -> None:
    """The demo's seller bills a Chinese customer: outside the scope of EU VAT in USD,
    China's 6% in CNY, Credits and Refunds as credit notes."""
    invoices = list(Invoice.objects.filter(account=demo).order_by("pk"))
    assert {invoice.type for invoice in invoices} == set(Invoice.Type.values)
    for invoice in invoices:
        assert invoice.seller_tax_id == run_target_seller
        for language in ("en", "zh-hans"):
            xml = invoice_cii_xml(invoice, language)
            assert einvoice_problems(xml) == [], invoice.number
            assert f">{run_target_seller}</ram:ID>".encode() in xml


@pytest.fixture
def no_seller_identifier(settings) -> None:
    settings.SELLER_VAT_ID = ""


def test_without_a_seller_identifier_the_demo_invoices_fail_br_co_26(
    no_seller_identifier: None, demo: Account
) -> None:
    """What `check --deploy` (portal.E013) guards against."""
    invoice = Invoice.objects.filter(account=demo).order_by("pk").first()
    assert invoice is not None and invoice.seller_tax_id == ""
    assert "BR-CO-26" in {rule.id for rule in failed_rules(invoice_cii_xml(invoice, "en"))}


def test_the_demo_invoice_page_shows_the_seller_identifier(
    run_target_seller: str, demo: Account, client: Client
) -> None:
    invoice = Invoice.objects.filter(account=demo).order_by("pk").first()
    assert invoice is not None
    client.force_login(demo.memberships.get(user__email="demo@example.com").user)
    body = client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    assert f"Tax ID: {run_target_seller}" in body
