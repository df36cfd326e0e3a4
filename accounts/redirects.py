"""Where a form may send the browser next: a page of this site, never the language switch
(going there after signing in would bounce between it and the page it came from); and, after
switching account, a page that exists in the other account too."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.http import HttpRequest
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme


def is_language_switch(url: str) -> bool:
    try:
        return resolve(urlsplit(url).path).url_name == "set_language"
    except Resolver404:
        return False


def safe_next(request: HttpRequest, url: str | None, *, default: str = "home") -> str:
    """`url` when it is a page of this site to go on to, else the URL named `default`."""
    if (
        url
        and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and not is_language_switch(url)
    ):
        return url
    return reverse(default)


def page_for_another_account(url: str) -> str:
    """Where switching account from `url` goes: the same page when it names no object (a
    list, with its filters), else the list it belongs to, the nearest page up its path that
    names none (an invoice, its PDF or an item of it: the invoices; a payment: the Payments
    page); the home page when there is none. Another account's invoice 12 is not this one's.
    """
    parts = urlsplit(url)
    path = parts.path
    try:
        if not resolve(path).kwargs:
            return urlunsplit(("", "", path, parts.query, ""))
    except Resolver404:
        pass
    segments = [segment for segment in path.split("/") if segment]
    while segments:
        segments.pop()
        parent = "/" + "/".join(segments) + "/" if segments else "/"
        try:
            if not resolve(parent).kwargs:
                return parent
        except Resolver404:
            continue
    return reverse("home")
