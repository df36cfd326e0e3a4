"""The apps depend on each other one way: portal -> billing -> payments -> invoices -> accounts.

Every module of every app is read (imports inside functions and under TYPE_CHECKING too) and
each import of another app must point down the chain. The sandbox processor plays a company
outside the portal: it imports none of the apps, and only its adapter imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ["accounts", "invoices", "payments", "billing", "portal"]
SANDBOX = "sandbox_gateway"
SANDBOX_ADAPTER = "payments.gateways.sandbox"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The absolute names of the modules `path` imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports_in(path.read_text(), package=package)


def _imports_in(source: str, *, package: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def _app_modules() -> list[Path]:
    return sorted(
        path
        for app in [*CHAIN, SANDBOX]
        for path in (ROOT / app).rglob("*.py")
        if ".venv" not in path.parts
    )


def _app_of(name: str) -> str:
    return name.split(".")[0]


def test_every_import_between_apps_points_down_the_chain() -> None:
    wrong = []
    for path in _app_modules():
        importer = _module_name(path)
        here = _app_of(importer)
        for name in _imports(path):
            there = _app_of(name)
            if there == here or there not in [*CHAIN, SANDBOX]:
                continue
            if there == SANDBOX:
                allowed = importer == SANDBOX_ADAPTER
            elif here == SANDBOX:
                allowed = False
            else:
                allowed = CHAIN.index(there) < CHAIN.index(here)
            if not allowed:
                wrong.append(f"{importer} imports {name}")
    assert wrong == []


def test_the_check_sees_the_imports_it_must_refuse() -> None:
    # The reader must find imports in every form, or the test above proves nothing.
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import billing.models\n"
        "from ..core import thing\n"
        "if TYPE_CHECKING:\n    from portal.settings import X\n"
        "def f():\n    from sandbox_gateway import processor\n"
    )
    found = _imports_in(source, package="payments.gateways")
    assert {"billing.models", "payments.core.thing", "portal.settings", "sandbox_gateway"} <= found
