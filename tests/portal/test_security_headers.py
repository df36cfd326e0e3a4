from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_pages_carry_a_content_security_policy_with_a_script_nonce(client: Client) -> None:
    response = client.get(reverse("login"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    # The htmx script is served from our own origin with the nonce.
    assert f'nonce="{nonce.group(1)}"' in response.content.decode()
    assert response["X-Frame-Options"] == "DENY"


def test_no_asset_is_loaded_from_another_origin() -> None:
    external = re.compile(r"""(?:src|href)=["'](?:https?:)?//""")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("templates", "accounts", "invoices", "payments", "portal")
        for path in (ROOT / folder).rglob("*.html")
        if external.search(path.read_text())
    ]
    assert offenders == []
