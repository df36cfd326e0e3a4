"""Behind reverse proxies (TRUSTED_PROXY_COUNT), every per-address throttle counts the client's
own address, the one the proxy saw: customers behind one proxy are not one customer, and a
client cannot choose its address by sending X-Forwarded-For itself."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.client_address import client_address
from accounts.models import User
from payments.models import PaymentMethod
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
ADD = reverse("payments:add")
# The card-testing limits count declined cards (and cards not yet checked), not good ones.
DECLINED = "4000000000000002"


def _behind_proxy(forwarded_for: str | None) -> Client:
    """A browser whose requests reach the portal through the proxy at PROXY, which appended
    the browser's address (and kept whatever X-Forwarded-For the browser sent on the left)."""
    headers = {"REMOTE_ADDR": PROXY}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Client(**headers)


def _add_card(client: Client, user: User, token: str) -> int:
    client.force_login(user)
    form = {
        "address_line1": "1 Main Street",
        "city": "Springfield",
        "country": "US",
        "contact_email": "billing@example.com",
        "card_token": token,
    }
    return client.post(ADD, form).status_code


def _sign_in(client: Client, email: str, password: str) -> int:
    return client.post(reverse("login"), {"username": email, "password": password}).status_code


def test_customers_behind_one_proxy_have_card_limits_of_their_own(
    owner: User, stranger: User, card_token, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.CARD_DECLINES_PER_HOUR = 1

    assert _add_card(_behind_proxy("203.0.113.7"), owner, card_token(DECLINED)) == 302
    assert _add_card(_behind_proxy("203.0.113.8"), stranger, card_token(DECLINED)) == 302

    assert sorted(PaymentMethod.objects.values_list("created_ip", flat=True)) == [
        "203.0.113.7",
        "203.0.113.8",
    ]


def test_a_client_cannot_choose_its_address_with_a_header_of_its_own(
    owner: User, stranger: User, card_token, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.CARD_DECLINES_PER_HOUR = 1
    assert _add_card(_behind_proxy("203.0.113.7"), stranger, card_token(DECLINED)) == 302

    # The client at 198.51.100.20 sends "X-Forwarded-For: 203.0.113.7"; the proxy appends.
    spoofing = _behind_proxy("203.0.113.7, 198.51.100.20")
    assert _add_card(spoofing, owner, card_token(DECLINED)) == 302
    assert PaymentMethod.objects.filter(created_by=owner).get().created_ip == "198.51.100.20"

    # And a client past its limit does not get a new one by inventing an address.
    assert _add_card(_behind_proxy("192.0.2.1, 198.51.100.20"), owner, card_token(DECLINED)) == 429


def test_without_trusted_proxies_the_header_is_ignored(
    owner: User, stranger: User, card_token, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    settings.CARD_DECLINES_PER_HOUR = 1
    assert _add_card(_behind_proxy("203.0.113.7"), owner, card_token(DECLINED)) == 302
    assert PaymentMethod.objects.get().created_ip == PROXY
    # The proxy's address is the only one there is: the limit is shared.
    assert _add_card(_behind_proxy("203.0.113.8"), stranger, card_token(DECLINED)) == 429


def test_customers_behind_one_proxy_have_lockout_counts_of_their_own(owner: User, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    attacker = _behind_proxy("203.0.113.66")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(attacker, owner.email, "wrong")
    assert _sign_in(attacker, owner.email, PASSWORD) == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.66"}

    assert _sign_in(_behind_proxy("203.0.113.7"), owner.email, PASSWORD) == 302


def test_a_locked_out_client_cannot_sign_in_by_inventing_an_address(owner: User, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(_behind_proxy("203.0.113.66"), owner.email, "wrong")

    assert _sign_in(_behind_proxy("203.0.113.7, 203.0.113.66"), owner.email, PASSWORD) == 429


def test_without_trusted_proxies_the_lockout_counts_the_connecting_address(
    owner: User, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(_behind_proxy(f"203.0.113.{attempt}"), owner.email, "wrong")
    assert _sign_in(_behind_proxy("203.0.113.99"), owner.email, PASSWORD) == 429


@pytest.mark.parametrize(
    ("count", "remote", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "203.0.113.7", "192.0.2.1"),
        (1, "10.0.0.2", None, "10.0.0.2"),
        (1, "10.0.0.2", "203.0.113.7", "203.0.113.7"),
        (1, "10.0.0.2", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (1, "10.0.0.2", " 6.6.6.6 ,203.0.113.7 ", "203.0.113.7"),
        (2, "10.0.0.3", "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (2, "10.0.0.3", "203.0.113.7", "203.0.113.7"),
        (1, "10.0.0.2", "2001:DB8::1", "2001:db8::1"),
        (1, "10.0.0.2", "not-an-address", "10.0.0.2"),
        (1, "10.0.0.2", "203.0.113.7, ", "10.0.0.2"),
    ],
)
def test_the_client_address_is_the_one_the_outermost_trusted_proxy_saw(
    settings, count: int, remote: str, forwarded: str | None, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = count
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(RequestFactory().get("/", **headers)) == expected
