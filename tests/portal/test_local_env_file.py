"""Local settings from a file: settings read .env when it exists (`make run` writes one),
real environment variables win, and the test suite never reads it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings'); "
    "from django.conf import settings; "
    "print(settings.DEBUG, settings.SECRET_KEY, settings.INVOICES_PER_PAGE)"
)


def _settings(env_file: Path | str, *, under_pytest: bool = False, **env: str) -> list[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "INVOICES_PER_PAGE", "PYTEST_VERSION"}
    }
    if under_pytest:
        base["PYTEST_VERSION"] = os.environ["PYTEST_VERSION"]
    result = subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**base, "ENV_FILE": str(env_file), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text("# written by make run\nDEBUG=1\nSECRET_KEY=from-the-file-0123456789\n")
    return path


def test_settings_read_the_env_file_when_it_exists(env_file: Path) -> None:
    assert _settings(env_file) == ["True", "from-the-file-0123456789", "25"]


def test_a_real_environment_variable_wins_over_the_file(env_file: Path) -> None:
    env_file.write_text(env_file.read_text() + "INVOICES_PER_PAGE=7\n")
    assert _settings(env_file, SECRET_KEY="from-the-environment", INVOICES_PER_PAGE="40") == [
        "True",
        "from-the-environment",
        "40",
    ]
    assert _settings(env_file)[2] == "7"


def test_without_the_file_the_production_rule_stands(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "PYTEST_VERSION"}},
            "DEBUG": "0",
            "ENV_FILE": str(tmp_path / "missing.env"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_the_test_suite_never_reads_a_developers_env_file(env_file: Path) -> None:
    """A developer's .env has DEBUG=1; the suite checks the production defaults (DEBUG off,
    secure cookies, the manifest storage), so under pytest the file is not read at all."""
    assert "PYTEST_VERSION" in os.environ
    assert _settings(env_file, under_pytest=True, SECRET_KEY="s" * 40) == ["False", "s" * 40, "25"]


def test_make_run_writes_an_env_file_once_and_git_ignores_it(tmp_path: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: install \.env$", makefile, re.MULTILINE)
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    target = tmp_path / "checkout"
    target.mkdir()
    (target / "Makefile").write_text(makefile)
    make = ["make", "--no-print-directory", "-C", str(target), ".env"]
    subprocess.run(make, check=True, capture_output=True, timeout=60)
    written = (target / ".env").read_text()
    assert "DEBUG=1" in written.splitlines()
    key = re.search(r"^SECRET_KEY=(\S+)$", written, re.MULTILINE)
    assert key and len(key.group(1)) >= 50
    # Never overwritten: a second `make run` keeps the developer's file as it is.
    (target / ".env").write_text(written + "INVOICES_PER_PAGE=7\n")
    subprocess.run(make, check=True, capture_output=True, timeout=60)
    assert (target / ".env").read_text().endswith("INVOICES_PER_PAGE=7\n")
    assert _settings(target / ".env")[:2] == ["True", key.group(1)]
