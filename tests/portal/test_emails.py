"""Every email the portal sends, each made by the code that really sends it, in English and
in Chinese: subject, plain text and HTML in the recipient's language, the HTML a well-formed,
self-contained document, no card data anywhere, and the PDFs attached where promised."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template
from django.template.utils import get_app_template_dirs
from django.test import Client
from pypdf import PdfReader

from accounts.models import Account, OutboundEmail, User
from payments.card_numbers import looks_like_card_number
from tests.portal.emails import CVC, EMAILS, LANGUAGES, World, make_world, sent

pytestmark = pytest.mark.django_db

# Words that stay as they are in a Chinese email: names and what is not translated.
KEPT_WORDS = {"PDF", "PayPal", "Visa", "INV", "RCPT", "US", "Example", "Hosting", "Ltd"}


# Reading an email's HTML: strictly, every element closed in order --------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def iter(self, tag: str | None = None) -> list[Node]:
        found = [self] if tag in (None, self.tag) else []
        for child in self.children:
            found.extend(child.iter(tag))
        return found

    def content(self) -> str:
        """The text a reader sees, the tags' attributes left out."""
        return " ".join([*self.text, *(child.content() for child in self.children)])


class StrictParser(HTMLParser):
    """A tree of the document that fails on any element closed out of order or left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"</{tag}>"
        open_tag = self.stack[-1].tag
        assert open_tag == tag, f"</{tag}> closes <{open_tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.stack[-1].text.append(data.strip())


def parse_html(html: str) -> Node:
    parser = StrictParser()
    parser.feed(html)
    parser.close()
    assert [node.tag for node in parser.stack] == ["#document"], "elements left open"
    assert parser.doctype.lower() == "doctype html"
    [root] = parser.root.children
    assert root.tag == "html"
    return root


# The PDFs promised: (filename, words its first page shows in English, in Chinese).
ATTACHMENTS = {
    "invoices/email/invoice_issued": ("invoice-INV-", "Invoice", "发票"),
    "payments/email/receipt": ("receipt-", "Payment receipt", "付款收据"),
}


def _email_templates() -> set[str]:
    """The `<name>` of every `<name>_subject.txt` in the project's own template folders."""
    folders = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]] + list(
        map(Path, get_app_template_dirs("templates"))
    )
    base = Path(settings.BASE_DIR).resolve()
    names = set()
    for folder in folders:
        folder = folder.resolve()
        if not folder.is_relative_to(base) or ".venv" in folder.parts:
            continue
        for subject in folder.rglob("*_subject.txt"):
            names.add(str(subject.relative_to(folder))[: -len("_subject.txt")])
    return names


def test_every_email_template_is_covered_here() -> None:
    # A new email fails this test until it is added to EMAILS (and so tested below).
    assert _email_templates() == set(EMAILS)


def test_every_email_has_a_text_and_an_html_body() -> None:
    for name in EMAILS:
        text = (
            "registration/password_reset_email.html"
            if name.startswith("registration/")
            else f"{name}_body.txt"
        )
        get_template(text)
        get_template(f"{name}_body.html")


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    account: Account,
    owner: User,
    approver: User,
    client: Client,
    card_token,
    issue,
    pay_by_card,
    settings,
    tmp_path: Path,
) -> World:
    return make_world(
        request.param,
        settings=settings,
        tmp_path=tmp_path,
        account=account,
        owner=owner,
        approver=approver,
        client=client,
        card_token=card_token,
        issue=issue,
        pay_by_card=pay_by_card,
    )


def _words(text: str, world: World) -> list[str]:
    """The words of `text` that are not names, addresses or numbers."""
    for name in (world.account.company_name, settings.SELLER_NAME):
        text = text.replace(name, " ")
    text = re.sub(r"https?://\S+|\S+@\S+", " ", text)
    return re.findall(r"[A-Za-z]{2,}", text)


CJK = re.compile(r"[\u4e00-\u9fff]")
HALF_WIDTH = re.compile(r"[\u4e00-\u9fff] ?[,.:;?!(]|[),:;?!] ?[\u4e00-\u9fff]")


def _in_language(text: str, world: World, what: str) -> None:
    if world.language == "en":
        assert not CJK.search(text.replace(world.account.company_name, "")), (what, text)
    else:
        assert CJK.search(text), (what, text)
        english = set(_words(text, world)) - KEPT_WORDS
        assert not english, (what, sorted(english), text)
        # Chinese sentences take full-width punctuation (，：（）。), not "发票编号: ".
        half_width = HALF_WIDTH.search(text.replace(world.account.company_name, ""))
        assert not half_width, (what, half_width, text)


@pytest.mark.parametrize("world", LANGUAGES, indirect=True)
@pytest.mark.parametrize("name", sorted(EMAILS))
def test_each_email_is_in_the_recipients_language_as_text_and_html(name: str, world: World) -> None:
    message = EMAILS[name](world)

    # Subject and text in the language, plain text: a name is written as typed, not escaped.
    assert message.subject and "\n" not in message.subject
    for plain in (message.subject, message.body):
        assert not re.search(r"&(amp|lt|gt|quot|#x?[0-9a-f]+);", plain), plain
    _in_language(message.subject, world, "subject")
    assert message.content_subtype == "plain"
    assert message.body.strip()
    assert not re.search(r"</?(p|a|div|table|br)\b", message.body), "markup in the text part"
    _in_language(message.body, world, "text")

    # One HTML alternative: a document of its own, in the language, self-contained.
    [(html, mimetype)] = message.alternatives  # type: ignore[attr-defined]
    assert mimetype == "text/html"
    root = parse_html(html)
    assert (root.attrs.get("lang"), root.attrs.get("dir")) == (world.language, "ltr")
    [wrapper] = [n for n in root.iter("div") if n.attrs.get("role") == "article"]
    assert (wrapper.attrs.get("lang"), wrapper.attrs.get("dir")) == (world.language, "ltr")
    [title] = root.iter("title")
    assert title.content() == message.subject
    assert [h.content() for h in root.iter("h1")] == [message.subject]
    # Nothing the customer typed became markup (the company's name is an <img onerror>).
    assert not root.iter("img") and not root.iter("link") and not root.iter("script")
    assert not root.iter("style") and "url(" not in html
    for table in root.iter("table"):
        # Layout tables say so; the others are tables of facts, with headers.
        assert table.attrs.get("role") == "presentation" or table.iter("th"), table
    text = root.iter("body")[0].content()
    _in_language(text, world, "html")
    assert settings.SELLER_NAME in text

    # The main action: a real link with its full address, the portal's own; so is every link.
    links = root.iter("a")
    sites = (settings.SITE_URL.rstrip("/") + "/", "http://testserver/")  # the latter: a reset
    assert all(link.attrs["href"].startswith(sites) for link in links), links
    buttons = [link for link in links if not link.content().startswith("http")]
    assert buttons, "no main action"
    assert any(link.content() == buttons[0].attrs["href"] for link in links), "no full address"

    # Text and HTML sent together, as alternatives.
    mime = message.message()
    attachments = ATTACHMENTS.get(name)
    if attachments:
        assert mime.get_content_type() == "multipart/mixed"
        alternative: Message = mime.get_payload()[0]  # type: ignore[index, assignment]
    else:
        alternative = mime
    assert alternative.get_content_type() == "multipart/alternative"
    parts = alternative.get_payload()
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]  # type: ignore[union-attr]

    # No card number, no security code, in any part.
    for part in (message.subject, message.body, html):
        assert not looks_like_card_number(part)
        assert not re.search(rf"\b{CVC}\b", part)

    # The PDFs promised, in the language, and nothing else attached.
    if attachments is None:
        assert message.attachments == []
        return
    prefix, english, chinese = attachments
    [(filename, content, content_type)] = message.attachments
    assert filename.startswith(prefix) and filename.endswith(".pdf")
    assert content_type == "application/pdf"
    assert content.startswith(b"%PDF")
    [pdf] = [part for part in mime.walk() if part.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == filename
    first_page = PdfReader(io.BytesIO(content)).pages[0].extract_text()
    assert (english if world.language == "en" else chinese) in first_page
    assert not looks_like_card_number(first_page)


def test_the_receipts_pdf_is_the_payments_own(
    account: Account, owner: User, issue, pay_by_card, settings, tmp_path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    invoice = issue(account, "120.00")
    payment = pay_by_card(account, owner, "80.00")
    message = sent(f"payments.payment.receipt:{payment.pk}")
    [(filename, content, _type)] = message.attachments
    assert filename == f"receipt-{payment.pk}.pdf"
    page = PdfReader(io.BytesIO(content)).pages[0].extract_text()
    assert invoice.number in page and "80.00" in page
    queued = OutboundEmail.objects.get(key=f"payments.payment.receipt:{payment.pk}")
    assert queued.attachments == [
        {"kind": "payments.receipt_pdf", "id": payment.pk, "language": account.language}
    ]
