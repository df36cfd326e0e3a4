"""No card number reaches a log: every handler of the portal's logging masks card-like
numbers in the message, its arguments and the traceback."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import Client

from payments.card_numbers import CardNumberFilter


@pytest.mark.django_db
def test_a_404_for_a_path_with_a_card_number_logs_it_masked(client: Client, caplog) -> None:
    caplog.set_level(logging.INFO)
    response = client.get("/nosuch/4000000000000077")
    assert response.status_code in (302, 404)
    client.force_login(_user())
    assert client.get("/nosuch/4000000000000077").status_code == 404
    assert "/nosuch/************0077" in caplog.text
    assert "4000000000000077" not in caplog.text


def _user():
    from tests.factories import UserFactory

    return UserFactory(email="log@example.com")


def test_a_card_number_in_a_log_calls_arguments_is_masked(caplog) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("payments.anything").warning(
        "company %s phone %r", "Hello Co 5555.5555.5555.4444", "4000/0566/5566/5556"
    )
    assert "Hello Co ****.****.****.4444" in caplog.text
    assert "5555.5555.5555.4444" not in caplog.text
    assert "4000/0566/5566/5556" not in caplog.text


def test_a_card_number_in_an_exception_is_masked(caplog) -> None:
    caplog.set_level(logging.INFO)
    try:
        raise ValueError("bad number 4242 4242 4242 4242")
    except ValueError:
        logging.getLogger("portal").exception("failed")
    assert "4242 4242 4242 4242" not in caplog.text
    assert "**** **** **** 4242" in caplog.text


def test_every_handler_of_the_logging_settings_masks_card_numbers() -> None:
    config = settings.LOGGING
    masking = {
        name
        for name, spec in config["filters"].items()
        if spec.get("()") == "payments.card_numbers.CardNumberFilter"
    }
    assert masking
    for name, handler in config["handlers"].items():
        assert masking & set(handler.get("filters", [])), name
    # Django's own loggers (django.request, django.server) write through those handlers only.
    for name in ("django", "django.server"):
        for handler in logging.getLogger(name).handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue
            assert any(isinstance(f, CardNumberFilter) for f in handler.filters), (name, handler)
