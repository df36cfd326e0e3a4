"""Docker cannot run here, so the compose file and the Dockerfile are checked by reading."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


WORKERS = ("worker-money", "worker-emails", "worker-pdfs")


def test_compose_has_the_production_services() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", *WORKERS, "beat"}


def _queues(command: str) -> set[str]:
    match = re.search(r"(?:--queues[= ]|-Q ?)(\S+)", command)
    assert match, f"{command!r} names no queues: it would consume only the default one"
    return set(match.group(1).split(","))


def test_compose_starts_a_worker_per_queue_and_money_emails_and_pdfs_each_alone() -> None:
    """A burst of PDFs never delays a charge: money, emails and PDFs each have a worker
    service that consumes nothing of the others, and every declared queue has a worker."""
    from django.conf import settings

    services = _compose()["services"]
    consumed = {name: _queues(" ".join(services[name]["command"])) for name in WORKERS}
    assert consumed["worker-money"] == {"money"}
    assert consumed["worker-pdfs"] == {"pdfs"}
    assert "emails" in consumed["worker-emails"]
    assert consumed["worker-emails"] <= {"emails", "default"}
    assert set().union(*consumed.values()) == set(settings.TASK_QUEUES)
    assert all("celery -A portal worker" in " ".join(services[n]["command"]) for n in WORKERS)


def test_every_worker_service_can_be_scaled() -> None:
    """`docker compose up --scale worker-money=4` needs services without a fixed container
    name or host port (a second copy could take neither), and a hostname per copy."""
    services = _compose()["services"]
    for name in WORKERS:
        service = services[name]
        assert "container_name" not in service, name
        assert "ports" not in service, name
        hostname = re.search(r"--hostname[= ](\S+)", " ".join(service["command"]))
        assert hostname and "%h" in hostname.group(1), name


def _routed_queue(task_name: str) -> str:
    from portal.celery import app

    return str(app.amqp.router.route({}, task_name)["queue"].name)


def test_every_task_of_the_project_is_routed_to_a_queue_a_compose_worker_consumes() -> None:
    """Read the routes (CELERY_TASK_ROUTES, through Celery's own router) and the compose
    file: no task of the project lands in a queue that no worker service listens to."""
    from portal.celery import app

    app.loader.import_default_modules()
    project = ("accounts", "invoices", "payments", "billing", "portal", "sandbox_gateway")
    tasks = sorted(name for name in app.tasks if name.split(".")[0] in project)
    assert len(tasks) > 10, tasks
    services = _compose()["services"]
    consumed = set().union(*(_queues(" ".join(services[name]["command"])) for name in WORKERS))
    unconsumed = {
        name: _routed_queue(name) for name in tasks if _routed_queue(name) not in consumed
    }
    assert unconsumed == {}
    # And the router is what decides: a money task goes to the money worker alone.
    money_consumers = [
        name for name in WORKERS if "money" in _queues(" ".join(services[name]["command"]))
    ]
    assert _routed_queue("billing.billing_run_chunk") == "money"
    assert money_consumers == ["worker-money"]


def test_make_worker_consumes_every_queue() -> None:
    """One worker is enough for a single machine (`make worker` beside `make run`)."""
    from django.conf import settings

    makefile = (ROOT / "Makefile").read_text()
    assert "--queues=$(WORKER_QUEUES)" in makefile
    match = re.search(r"^WORKER_QUEUES \?= (\S+)$", makefile, re.MULTILINE)
    assert match
    assert set(match.group(1).split(",")) == set(settings.TASK_QUEUES)


def test_compose_commands_run_the_right_processes() -> None:
    services = _compose()["services"]

    def command(name: str) -> str:
        value = services[name]["command"]
        return " ".join(value) if isinstance(value, list) else value

    assert command("migrate").startswith("python manage.py migrate")
    assert command("web").startswith("gunicorn portal.wsgi")
    for worker in WORKERS:
        assert "celery -A portal worker" in command(worker)
    assert "celery -A portal beat" in command("beat")


def test_compose_app_services_share_the_configuration_and_wait_for_migrations() -> None:
    services = _compose()["services"]
    for name in ("migrate", "web", *WORKERS, "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:6379")
        assert "SECRET_KEY" in environment
    for name in ("web", *WORKERS, "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_dockerfile_installs_pango_and_a_cjk_font_for_weasyprint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.13" in dockerfile
    assert "libpango-1.0-0" in dockerfile
    assert "fonts-noto-cjk" in dockerfile
    assert "uv sync --frozen" in dockerfile
    assert "compilemessages" in dockerfile
    assert "collectstatic" in dockerfile


def _web_commands() -> dict[str, list[str]]:
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    return {"Dockerfile": json.loads(cmd[4:]), "compose": _compose()["services"]["web"]["command"]}


@pytest.mark.parametrize("where", ["Dockerfile", "compose"])
def test_the_web_servers_access_log_records_no_query_string_and_masks_card_numbers(
    where: str, monkeypatch, tmp_path
) -> None:
    """gunicorn, started as the deployment starts it, logs a request's path (masked) and
    never its query string."""
    from gunicorn.app.wsgiapp import WSGIApplication

    command = _web_commands()[where]
    assert "--access-logformat" not in command and "--logger-class" not in command
    monkeypatch.setattr(sys, "argv", command)
    cfg = WSGIApplication().cfg
    for atom in ("%(q)s", "%(r)s", "%(f)s", "%({query_string}e)s"):
        assert atom not in cfg.access_log_format
    cfg.set("accesslog", str(tmp_path / "access.log"))
    logger = cfg.logger_class(cfg)
    request = SimpleNamespace(headers=[])
    response = SimpleNamespace(status="404 Not Found", sent=0, headers=[])
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/nosuch/4000000000000077",
        "QUERY_STRING": "date_from=4242424242424242&q=secret",
        "RAW_URI": "/nosuch/4000000000000077?date_from=4242424242424242&q=secret",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_REFERER": "https://billing.example.com/invoices/?date_from=5555555555554444",
    }
    logger.access(response, request, environ, timedelta(milliseconds=5))
    line = (tmp_path / "access.log").read_text()
    assert '"GET /nosuch/************0077 HTTP/1.1" 404' in line
    assert "?" not in line and "secret" not in line
    for number in ("4000000000000077", "4242424242424242", "5555555555554444"):
        assert number not in line
