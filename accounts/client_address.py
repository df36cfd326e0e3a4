"""The address of the client a request comes from, behind TRUSTED_PROXY_COUNT reverse proxies.

Each proxy appends the address it received the request from to X-Forwarded-For, so with N
proxies in front of the portal the client's address is the N-th entry from the right; anything
left of it was written by the client and proves nothing. Used by every throttle that counts
per address: the sign-in lockout (django-axes, AXES_CLIENT_IP_CALLABLE) and the card limits.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str | None:
    """A valid IP address in its canonical form, or None."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR when no proxy is trusted (X-Forwarded-For is then
    ignored), else the entry of X-Forwarded-For the outermost trusted proxy wrote. Fewer entries
    than proxies (a request that reached an inner proxy directly): the leftmost, still written
    by a trusted proxy. An entry that is not an address falls back to REMOTE_ADDR."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    count = int(settings.TRUSTED_PROXY_COUNT)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count <= 0 or not forwarded.strip():
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    return _address(entries[max(len(entries) - count, 0)]) or remote
