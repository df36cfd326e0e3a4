from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "billing.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://billing.example.com",
    "DATABASE_URL": "postgres://portal@db.internal:5432/portal",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
    # Real processors: PayPal's live API, and a card adapter that moves real money.
    "CARD_GATEWAY": "tests.payments.live_adapter.LiveCardGateway",
    "PAYPAL_CLIENT_ID": "live-client",
    "PAYPAL_CLIENT_SECRET": "live-secret",
    "PAYPAL_API_URL": "https://api-m.paypal.com",
    # The seller (in the US by default) and its tax registration number: invoices name it.
    "SELLER_VAT_ID": "12-3456789",
}
SANDBOX = {"CARD_GATEWAY": "sandbox", "PAYPAL_GATEWAY": "sandbox"}
# Development and test switches that production never sets.
NOT_IN_PRODUCTION = (
    "SECURE_SSL_REDIRECT",
    "SECURE_COOKIES",
    "SECURE_HSTS_SECONDS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in NOT_IN_PRODUCTION}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_prints_no_warning_with_production_values() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


def test_deploy_check_refuses_a_seller_without_an_identifier() -> None:
    result = _manage("check", "--deploy", env={**PRODUCTION_ENV, "SELLER_VAT_ID": ""})
    assert result.returncode != 0
    assert "portal.E013" in result.stderr


def test_deploy_check_warns_when_the_sandbox_takes_the_payments() -> None:
    result = _manage("check", "--deploy", env={**PRODUCTION_ENV, **SANDBOX})
    assert "payments.W001" in result.stderr
    assert "CARD_GATEWAY='sandbox' moves no real money" in result.stderr
    assert "PAYPAL_GATEWAY='sandbox' moves no real money" in result.stderr


def test_deploy_check_warns_when_paypal_talks_to_its_sandbox_api() -> None:
    env = {**PRODUCTION_ENV, "PAYPAL_API_URL": "https://api-m.sandbox.paypal.com"}
    result = _manage("check", "--deploy", env=env)
    assert "PAYPAL_GATEWAY='paypal' moves no real money" in result.stderr
    assert "CARD_GATEWAY" not in result.stderr


def test_the_sandbox_processor_is_installed_only_when_configured() -> None:
    script = (
        "from django.conf import settings; from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/sandbox-gateway/v1/card-fields'); served = True\n"
        "except Resolver404:\n    served = False\n"
        "print('sandbox_gateway' in settings.INSTALLED_APPS, served)"
    )
    real = _manage("shell", "--no-imports", "-c", script, env=PRODUCTION_ENV)
    assert real.stdout.split() == ["False", "False"], real.stderr
    sandbox = _manage("shell", "--no-imports", "-c", script, env={**PRODUCTION_ENV, **SANDBOX})
    assert sandbox.stdout.split() == ["True", "True"], sandbox.stderr


def test_a_gateway_setting_that_names_no_adapter_is_an_error() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "CARD_GATEWAY": "payments.gateways.nosuch.X"})
    assert result.returncode != 0
    assert "payments.E001" in result.stderr
    assert "CARD_GATEWAY='payments.gateways.nosuch.X' names no gateway adapter" in result.stderr


def test_secret_key_is_required_when_debug_is_off() -> None:
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_a_bad_value_is_a_clear_configuration_error() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "AXES_FAILURE_LIMIT": "many"})
    assert result.returncode != 0
    assert "ImproperlyConfigured: AXES_FAILURE_LIMIT='many' is not a valid value" in result.stderr


@pytest.mark.django_db
def test_the_database_is_postgresql_when_database_url_names_it() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        pytest.skip("DATABASE_URL does not name PostgreSQL")
    assert connection.vendor == "postgresql"
