"""The Prometheus endpoint: protected by a bearer token, scraped and parsed as Prometheus
parses it; the database's counts read at the scrape, the processes' own samples added up in
multiprocess mode; JSON logs and Sentry without card numbers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Account, OutboundEmail, User
from billing.tasks import billing_run_chunk_task
from invoices import services as invoice_services
from invoices.models import RecurringCharge
from payments.cards import payment_method_approve
from payments.models import Payment, PaymentMethod
from portal.metrics import metrics_server_start
from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-the-tests-0123456789"
pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def _scrape(client: Client, token: str = TOKEN) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def test_without_a_token_configured_there_is_no_endpoint(client: Client, settings) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_a_scrape_without_the_token_or_with_another_is_refused(client: Client, token) -> None:
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION=token).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}x").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token[:-1]}").status_code == 403
    assert b"portal_" not in missing.content
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 405


def test_the_scrape_reports_payments_outbox_cards_and_queues(
    client: Client, token, demo: Account, settings
) -> None:
    now = timezone.now()
    # The demo has a card awaiting approval: make it older than the 24-hour promise.
    PaymentMethod.objects.filter(state=PaymentMethod.State.AWAITING_APPROVAL).update(
        awaiting_since=now - timedelta(hours=25)
    )
    email = OutboundEmail.objects.create(key="t", to=["a@example.com"], subject="s", body="b")
    OutboundEmail.objects.filter(pk=email.pk).update(created_at=now - timedelta(minutes=30))
    import redis

    broker = redis.Redis.from_url(settings.REDIS_URL)
    # Whatever an earlier test on this Redis database left queued goes first.
    broker.delete("money", "emails", "pdfs", "default")
    broker.rpush("pdfs", "a", "b", "c")
    try:
        samples = _scrape(client)
    finally:
        broker.delete("pdfs")

    by_state = {
        (labels["gateway"], labels["method"], labels["outcome"]): value
        for labels, value in (
            (dict(key), value) for key, value in samples["portal_payments"].items()
        )
    }
    expected: dict[tuple[str, str, str], float] = {}
    for payment in Payment.objects.all():
        key = (payment.gateway, payment.method, payment.state)
        expected[key] = expected.get(key, 0) + 1
    assert by_state == expected and sum(expected.values()) >= 2

    awaiting = PaymentMethod.objects.filter(state=PaymentMethod.State.AWAITING_APPROVAL).count()
    assert awaiting >= 1
    assert samples["portal_cards_awaiting_approval"][()] == awaiting
    assert samples["portal_cards_awaiting_approval_past_promise"][()] == awaiting
    oldest = samples["portal_cards_awaiting_approval_oldest_age_seconds"][()]
    assert 25 * 3600 <= oldest < 25 * 3600 + 120
    assert samples["portal_cards_approval_promise_seconds"][()] == 24 * 3600

    queued = OutboundEmail.objects.filter(state=OutboundEmail.State.QUEUED).count()
    assert samples["portal_outbox_emails_queued"][()] == queued >= 1
    assert 30 * 60 <= samples["portal_outbox_oldest_queued_age_seconds"][()] < 30 * 60 + 120

    assert samples["portal_broker_up"][()] == 1
    lengths = {dict(k)["queue"]: v for k, v in samples["portal_queue_length"].items()}
    assert lengths == {"money": 0, "emails": 0, "pdfs": 3, "default": 0}


def test_gateway_latency_and_billing_run_accounts_are_counted_where_the_work_happens(
    client: Client, token, account: Account, owner: User, rep: User, add_card, monkeypatch
) -> None:
    before = _scrape(client)

    def value(samples, name, **labels) -> float:
        return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    card = add_card(account, owner)  # the gateway's zero-amount check
    payment_method_approve(payment_method=card, by=rep)
    RecurringCharge.objects.create(
        account=account,
        description="Virtual Server",
        category="Server",
        quantity=1,
        unit_price="100.00",
        starts_on=timezone.localdate().replace(day=1),
    )
    # A second account whose invoice cannot be made: it fails, the first is done.
    broken = AccountFactory()
    RecurringCharge.objects.create(
        account=broken,
        description="VPS",
        unit_price="5.00",
        starts_on=timezone.localdate().replace(day=1),
    )
    real = invoice_services._charge_spec

    def failing(charge: RecurringCharge, *args: Any) -> Any:
        if charge.account_id == broken.pk:
            raise RuntimeError("boom")
        return real(charge, *args)

    monkeypatch.setattr(invoice_services, "_charge_spec", failing)
    totals = billing_run_chunk_task([account.pk, broken.pk], timezone.localdate().isoformat())
    assert (totals["accounts"], totals["failed"]) == (1, 1)
    after = _scrape(client)

    verify = {"gateway": "sandbox", "kind": "verify", "outcome": "succeeded"}
    charge = {"gateway": "sandbox", "kind": "charge", "outcome": "succeeded"}
    for labels in (verify, charge):
        name = "portal_gateway_call_duration_seconds_count"
        assert value(after, name, **labels) == value(before, name, **labels) + 1, labels
        inf = {**labels, "le": "+Inf"}
        bucket = "portal_gateway_call_duration_seconds_bucket"
        assert value(after, bucket, **inf) == value(before, bucket, **inf) + 1
        assert value(after, "portal_gateway_call_duration_seconds_sum", **labels) > value(
            before, "portal_gateway_call_duration_seconds_sum", **labels
        )
    done = "portal_billing_run_accounts_total"
    assert (
        value(after, done, result="done") - value(before, done, result="done")
        == (totals["accounts"])
    )
    assert (
        value(after, done, result="failed") - value(before, done, result="failed")
        == (totals["failed"])
    )
    assert Payment.objects.filter(account=account, state=Payment.State.SUCCEEDED).count() == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_workers_metrics_server_asks_for_the_same_token(token) -> None:
    port = _free_port()
    server = metrics_server_start(port=port, address="127.0.0.1")
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        wrong = urllib.request.Request(url, headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError) as forbidden:
            urllib.request.urlopen(wrong, timeout=10)  # noqa: S310
        assert forbidden.value.code == 403
        right = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(right, timeout=10) as response:  # noqa: S310
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"portal_gateway_call_duration_seconds", "portal_billing_run_accounts"} <= names
    # The database's numbers come from the web's endpoint only (one truth, scraped once).
    assert "portal_payments" not in names and "portal_queue_length" not in names


MULTIPROCESS = """
import multiprocessing, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from payments.instruments import gateway_call_seconds
from portal.metrics import metrics_scrape

def work(seconds):
    labels = {"gateway": "stripe", "kind": "charge", "outcome": "succeeded"}
    gateway_call_seconds.labels(**labels).observe(seconds)

if __name__ == "__main__":
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=work, args=(s,)) for s in (0.3, 1.2, 2.5)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    sys.stdout.write(metrics_scrape(authorization="Bearer t", shared=False).body.decode())
"""


def test_in_multiprocess_mode_the_scrape_adds_up_every_processs_samples(tmp_path: Path) -> None:
    """What gunicorn's workers and Celery's prefork children record, each in its own
    memory, reaches one scrape through PROMETHEUS_MULTIPROC_DIR."""
    script = tmp_path / "multiprocess.py"
    script.write_text(MULTIPROCESS)
    directory = tmp_path / "metrics"
    directory.mkdir()
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
            "METRICS_TOKEN": "t",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(result.stdout)
        for sample in family.samples
    }
    labels = (("gateway", "stripe"), ("kind", "charge"), ("outcome", "succeeded"))
    assert samples[("portal_gateway_call_duration_seconds_count", labels)] == 3
    assert samples[("portal_gateway_call_duration_seconds_sum", labels)] == pytest.approx(4.0)
    le_1 = (*labels[:2], ("le", "1.0"), labels[2])
    assert samples[("portal_gateway_call_duration_seconds_bucket", tuple(sorted(le_1)))] == 1
    assert len(list(directory.iterdir())) == 3  # one file per process that recorded


LOG = """
import logging, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
logging.getLogger("payments.test").warning("Card %s refused", "4242 4242 4242 4242")
"""


def test_log_format_json_writes_one_json_object_per_line_with_card_numbers_masked() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOG],
        cwd=ROOT,
        env={**os.environ, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    record = next(r for r in records if r["logger"] == "payments.test")
    assert record["level"] == "WARNING"
    assert record["message"] == "Card **** **** **** 4242 refused"
    assert "time" in record
    assert "4242 4242 4242 4242" not in result.stderr


SENTRY = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
import sentry_sdk
from sentry_sdk.transport import Transport

class Keep(Transport):
    def __init__(self):
        super().__init__()
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

client = sentry_sdk.get_client()
keep = Keep()
client.transport = keep

def charge(number):
    raise ValueError(f"gateway refused card {number}")

try:
    charge("4000000000000002")
except ValueError:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
body = b"".join(item.get_bytes() for envelope in keep.envelopes for item in envelope.items)
print(client.options["send_default_pii"], len(keep.envelopes))
sys.stdout.buffer.write(body)
"""


def test_sentry_is_set_up_from_sentry_dsn_without_personal_data_or_card_numbers() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SENTRY],
        cwd=ROOT,
        env={**os.environ, "SENTRY_DSN": "http://public@127.0.0.1:9/1"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    first, _, body = result.stdout.partition(b"\n")
    assert first.split() == [b"False", b"1"]
    assert b"gateway refused card ************0002" in body
    assert b"4000000000000002" not in body  # the message, the frame's locals, anywhere
    assert b'"number"' in body  # the stack's locals are there, masked
