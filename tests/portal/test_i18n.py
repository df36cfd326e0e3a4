from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", ".venv", "var", "__pycache__", "*.mo", "node_modules")


def test_every_message_in_the_code_and_templates_has_a_chinese_translation(
    tmp_path: Path,
) -> None:
    """Extract the messages afresh from a copy of the tree and find each one translated."""
    copy = tmp_path / "tree"
    shutil.copytree(ROOT, copy, ignore=SKIP)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "zh_Hans",
            "--no-location",
            "--ignore=tests",
            "--ignore=var",
        ],
        cwd=copy,
        env={**os.environ, "DEBUG": "1"},
        check=True,
        capture_output=True,
        timeout=180,
    )
    catalog = polib.pofile(str(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    missing = [entry.msgid for entry in catalog if not entry.obsolete and not entry.translated()]
    assert missing == [], f"{len(missing)} messages have no zh-hans translation: {missing}"
    assert len(catalog.translated_entries()) > 50


@pytest.mark.django_db
def test_the_sign_in_page_follows_the_browser_language(client: Client) -> None:
    body = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in body
    assert "登录" in body


@pytest.mark.django_db
def test_the_language_switch_changes_the_language_of_the_menu(owner_client: Client) -> None:
    response = owner_client.post(
        reverse("set_language"), {"language": "zh-hans", "next": reverse("accounts:settings")}
    )
    assert response.status_code == 302
    body = owner_client.get(reverse("accounts:settings")).content.decode()
    for label in ("发票", "付款方式", "付款", "设置", "账单"):
        assert label in body
