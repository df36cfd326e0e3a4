"""The Kubernetes manifests (deploy/kubernetes/): every resource valid against the pinned
Kubernetes version's schemas (kubernetes-validate, offline, strict), and the shape the README
promises: web and a worker per queue that scale out, one beat, a migrate Job, probes that the
portal answers behind ALLOWED_HOSTS and the TLS redirect, resources everywhere."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
# The Kubernetes version the manifests are written for (kubernetes-validate ships its schemas).
KUBERNETES_VERSION = "1.33.0"
WORKERS = {"worker-money", "worker-emails", "worker-pdfs"}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests() -> list[Path]:
    return sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def _resources() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    found = {}
    for name in kustomization["resources"]:
        for doc in _documents(DEPLOY / name):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _pod(resources: dict, kind: str, name: str) -> dict[str, Any]:
    return resources[(kind, name)]["spec"]["template"]["spec"]


@pytest.mark.parametrize("path", _manifests(), ids=lambda p: p.name)
def test_every_manifest_is_valid_for_the_pinned_kubernetes_version(path: Path) -> None:
    documents = _documents(path)
    assert documents
    for document in documents:
        # Raises ValidationError naming the field (strict: no field the schema lacks).
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_is_refused_by_the_validation() -> None:
    """The validation the test above relies on does catch a wrong manifest."""
    web = _resources()[("Deployment", "web")]
    wrong = yaml.safe_load(yaml.safe_dump(web))
    wrong["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in _manifests()} - {"secret.example.yaml"}
    assert kustomization["namespace"] == "billing-portal"


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kustomize_builds_the_whole_and_every_built_resource_is_valid() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True
    ).stdout
    documents = [doc for doc in yaml.safe_load_all(built) if doc]
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in documents)
    assert kinds == sorted(
        [
            "Namespace/billing-portal",
            "ConfigMap/billing-portal-config",
            "PersistentVolumeClaim/billing-portal-media",
            "Job/migrate",
            "Deployment/web",
            "Service/web",
            *(f"Deployment/{name}" for name in WORKERS),
            "Deployment/beat",
            "HorizontalPodAutoscaler/web",
            *(f"HorizontalPodAutoscaler/{name}" for name in WORKERS),
        ]
    )
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "billing-portal"


def test_web_and_every_worker_scale_out_and_beat_is_one() -> None:
    resources = _resources()
    autoscaled = {
        doc["spec"]["scaleTargetRef"]["name"]
        for (kind, _name), doc in resources.items()
        if kind == "HorizontalPodAutoscaler"
    }
    assert autoscaled == {"web", *WORKERS}
    for (kind, _name), doc in resources.items():
        if kind == "HorizontalPodAutoscaler":
            assert doc["spec"]["minReplicas"] >= 1 and doc["spec"]["maxReplicas"] > 1
    beat = resources[("Deployment", "beat")]["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}
    command = " ".join(_pod(resources, "Deployment", "beat")["containers"][0]["command"])
    assert command.startswith("celery -A portal beat")


def _queues(command: list[str]) -> set[str]:
    match = re.search(r"--queues=(\S+)", " ".join(command))
    assert match, command
    return set(match.group(1).split(","))


def test_a_worker_deployment_per_queue_consumes_every_routed_queue() -> None:
    from portal.celery import app

    resources = _resources()
    consumed = {
        name: _queues(_pod(resources, "Deployment", name)["containers"][0]["command"])
        for name in WORKERS
    }
    assert consumed["worker-money"] == {"money"}
    assert consumed["worker-pdfs"] == {"pdfs"}
    assert "emails" in consumed["worker-emails"]
    assert set().union(*consumed.values()) == set(settings.TASK_QUEUES)
    app.loader.import_default_modules()
    routed = {
        str(app.amqp.router.route({}, name)["queue"].name)
        for name in app.tasks
        if name.split(".")[0] in {"accounts", "invoices", "payments", "billing", "portal"}
    }
    assert routed <= set().union(*consumed.values())


def test_the_migrate_job_migrates_and_every_pod_waits_for_it() -> None:
    resources = _resources()
    job = _pod(resources, "Job", "migrate")
    assert job["restartPolicy"] == "Never"
    assert job["containers"][0]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    for name in ("web", *WORKERS, "beat"):
        init = _pod(resources, "Deployment", name)["initContainers"]
        assert "manage.py migrate --check" in " ".join(init[0]["command"]), name


def test_every_container_has_resource_requests_and_limits() -> None:
    for (kind, name), doc in _resources().items():
        if kind not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, (name, container["name"])
            assert set(resources["limits"]) == {"cpu", "memory"}, (name, container["name"])
            assert container["image"] == "billing-portal"
            assert [source for e in container["envFrom"] for source in e] == [
                "configMapRef",
                "secretRef",
            ]


def _probe_headers() -> list[dict[str, dict[str, Any]]]:
    web = _pod(_resources(), "Deployment", "web")["containers"][0]
    return [web["readinessProbe"]["httpGet"], web["livenessProbe"]["httpGet"]]


@pytest.mark.django_db
def test_the_probes_reach_healthz_through_allowed_hosts_and_the_tls_redirect(
    client: Client, settings
) -> None:
    """In production (ALLOWED_HOSTS of the ConfigMap, BEHIND_TLS_PROXY, the redirect to
    https on) the probes' request is answered 200; without their headers it would not be."""
    config = _resources()[("ConfigMap", "billing-portal-config")]["data"]
    settings.ALLOWED_HOSTS = config["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = True
    assert config["BEHIND_TLS_PROXY"] == "1"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for probe in _probe_headers():
        assert probe["path"] == "/healthz" and probe["port"] == "http"
        headers = {h["name"]: h["value"] for h in probe["httpHeaders"]}
        response = client.get("/healthz", headers=headers)
        assert response.status_code == 200, response.content
        assert response.json()["database"] == "ok"
    # What the probe would get without them: a redirect, or a refused Host.
    assert client.get("/healthz", headers={"Host": "billing.example.com"}).status_code == 301
    bare = client.get("/healthz", headers={"Host": "10.0.0.7:8000", "X-Forwarded-Proto": "https"})
    assert bare.status_code == 400


def test_the_web_service_reaches_the_web_pods() -> None:
    resources = _resources()
    service = resources[("Service", "web")]["spec"]
    web = resources[("Deployment", "web")]["spec"]
    assert service["selector"] == web["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http"
    assert web["template"]["spec"]["containers"][0]["ports"][0]["name"] == "http"


def test_the_configuration_names_real_settings_and_the_secret_only_placeholders() -> None:
    config = _resources()[("ConfigMap", "billing-portal-config")]["data"]
    secret = _documents(DEPLOY / "secret.example.yaml")[0]
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "billing-portal-secrets"
    source = (ROOT / "portal" / "settings.py").read_text()
    for name in [*config, *secret["stringData"]]:
        assert f'"{name}"' in source or name == "PROMETHEUS_MULTIPROC_DIR", name
    for name, value in secret["stringData"].items():
        if value and name != "CARD_GATEWAY":
            assert "replace" in value, name
    # The real Secret is never applied from the repository.
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert "secret.example.yaml" not in kustomization["resources"]
    assert ("Secret", "billing-portal-secrets") not in _resources()
