"""The copies of the demo data that `demo` hands out (tests/snapshots.py) are the data
seeding writes: every row with its id, every file, and new rows still get new ids."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from accounts.models import Account
from invoices.models import InvoiceDocument
from tests import snapshots
from tests.parallel import redis_url_of_worker


def _everything() -> str:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


def _files(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in snapshots.media_files(root)}


def _seed(settings, media_root: Path) -> tuple[snapshots.Snapshot, str]:
    settings.MEDIA_ROOT = media_root
    counts = snapshots.row_counts()
    assert snapshots.is_pristine(counts)
    call_command("seed_demo", stdout=io.StringIO())
    snapshot = snapshots.take(before=counts, media_root=media_root, media_before={})
    return snapshot, _everything()


@pytest.mark.django_db(transaction=True)
def test_a_committed_seeding_comes_back_row_for_row_with_its_pdfs(settings, tmp_path) -> None:
    snapshot, seeded = _seed(settings, tmp_path / "seeded")
    pdfs = _files(tmp_path / "seeded")
    assert pdfs, "the commit renders the invoices' PDFs"
    call_command("flush", interactive=False, verbosity=0)  # as the test's teardown does

    settings.MEDIA_ROOT = tmp_path / "copy"
    assert snapshots.fits(snapshot, snapshots.row_counts())
    snapshots.restore(snapshot, media_root=tmp_path / "copy")

    assert _everything() == seeded
    assert _files(tmp_path / "copy") == pdfs
    document = InvoiceDocument.objects.exclude(file="").first()
    assert document is not None
    assert document.file.read() == pdfs[document.file.name]
    highest = Account.objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert Account.objects.create(company_name="Next Ltd").pk > highest


@pytest.mark.django_db
def test_a_seeding_in_a_tests_transaction_comes_back_row_for_row(settings, tmp_path) -> None:
    before = transaction.savepoint_create()
    snapshot, seeded = _seed(settings, tmp_path)
    assert not InvoiceDocument.objects.exists(), "nothing is committed, so nothing rendered"
    transaction.savepoint_rollback(before)
    assert not Account.objects.exists()

    snapshots.restore(snapshot, media_root=tmp_path)

    assert _everything() == seeded


@pytest.mark.django_db
def test_a_snapshot_is_not_restored_onto_a_database_with_rows(settings, tmp_path) -> None:
    before = transaction.savepoint_create()
    snapshot, _seeded = _seed(settings, tmp_path)
    transaction.savepoint_rollback(before)
    Account.objects.create(company_name="Written first Ltd")

    assert not snapshots.fits(snapshot, snapshots.row_counts())


# `demo` hands each test its own copy: what one test does to it the next never sees. (The two
# run in this order in one process; under xdist they may run apart, and each still holds.)
@pytest.mark.django_db(transaction=True)
def test_demo_data_a_test_changes_1_of_2(demo: Account) -> None:
    assert demo.recurring_charges.exists()
    demo.recurring_charges.all().delete()
    Account.objects.filter(pk=demo.pk).update(company_name="Changed by a test")


@pytest.mark.django_db(transaction=True)
def test_demo_data_a_test_changes_2_of_2(demo: Account) -> None:
    assert demo.company_name == "上海云帆科技有限公司"
    assert demo.recurring_charges.exists()


def test_each_xdist_worker_has_a_redis_database_of_its_own() -> None:
    assert redis_url_of_worker("redis://127.0.0.1:6379/8", 0) == "redis://127.0.0.1:6379/8"
    assert redis_url_of_worker("redis://127.0.0.1:6379/8", 1) == "redis://127.0.0.1:6379/9"
    assert redis_url_of_worker("redis://:pw@redis:6379", 2) == "redis://:pw@redis:6379/2"
