"""compose.yaml, the Dockerfile and the Kubernetes manifests: they parse, run hardened, pin their images
and hold no secret."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.assist.config import AssistSettings
from services.reporting.config import ReportingSettings
from services.roster.config import RosterSettings
from shared.config import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
K8S = ROOT / "deploy" / "kubernetes"

# A version tag (3.9.1, 16.9-bookworm, v3.5.0, 3.11.11-slim-bookworm), optionally with a digest.
PINNED_IMAGE = re.compile(r"^[\w.\-/]+:v?\d+(\.\d+)+[\w.\-]*(@sha256:[0-9a-f]{64})?$")
# A compose value that takes a variable from .env and refuses to start without it.
REQUIRED_REFERENCE = re.compile(r"\$\{(\w+):\?[^}]*\}")
# Read by the `cdt` command's HTTP client (cdt/client.py), not by the services' settings.
CLI_VARIABLES = {"CDT_TOKEN", "CDT_ROSTER_URL", "CDT_ASSIST_URL", "CDT_REPORTING_URL"}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def cdt_services() -> dict[str, dict]:
    return {name: compose()["services"][name] for name in SERVICES}


def manifests() -> list[dict]:
    documents = []
    for path in sorted(set(K8S.glob("*.yaml")) - {K8S / "kustomization.yaml"}):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def setting_variables() -> set[str]:
    fields: set[str] = set()
    for cls in (RosterSettings, AssistSettings, ReportingSettings):
        fields |= set(cls.model_fields)
    return {f"CDT_{name.upper()}" for name in fields}


# compose.yaml


def test_compose_runs_kafka_postgres_the_three_services_prometheus_and_grafana() -> None:
    assert set(compose()["services"]) == {"kafka", "postgres", *SERVICES, "prometheus", "grafana"}
    assert compose()["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_compose_service_has_a_healthcheck() -> None:
    for name, service in compose()["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name


def test_the_services_start_after_kafka_and_postgres_are_healthy() -> None:
    for name, service in compose()["services"].items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
    for name, service in cdt_services().items():
        assert {"kafka", "postgres"} <= set(service["depends_on"]), name
    assert set(compose()["services"]["grafana"]["depends_on"]) == {"prometheus"}


def test_the_services_are_one_image_serving_each_service_on_its_port() -> None:
    for name, service in cdt_services().items():
        assert service["build"]["context"] == "."
        assert service["image"] == cdt_services()["roster"]["image"]
        assert service["command"] == ["serve", name]
        port = DEFAULT_PORTS[name]
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])


def test_compose_images_are_pinned_to_a_version() -> None:
    for name, service in compose()["services"].items():
        assert PINNED_IMAGE.match(service["image"]), (name, service["image"])
        assert ":latest" not in service["image"]


def test_the_services_run_non_root_on_a_read_only_filesystem() -> None:
    for name, service in cdt_services().items():
        assert service["user"] == "10001:10001", name
        assert service["read_only"] is True, name
        assert any(mount.startswith("/tmp") for mount in service["tmpfs"]), name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_the_services_use_the_real_kafka_and_postgresql() -> None:
    for name, service in cdt_services().items():
        env = service["environment"]
        assert env["CDT_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["CDT_KAFKA_IDEMPOTENCE"] == "true"
        assert env["CDT_KAFKA_REPLICATION_FACTOR"] == "1"  # one broker
        assert env["CDT_HOST"] == "0.0.0.0"
        assert re.match(r"^postgresql://cdt:\$\{CDT_DB_PASSWORD:\?[^}]+\}@postgres:5432/cdt$",
                        env["CDT_DATABASE_URL"]), env["CDT_DATABASE_URL"]


def test_compose_secrets_come_from_the_env_file_and_are_required() -> None:
    example = env_example()
    secret_name = re.compile(r"PASSWORD|SECRET|TOKEN$|_KEY$")
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret_name.search(key):
                assert REQUIRED_REFERENCE.fullmatch(str(value)), (name, key, value)
    referenced = set(REQUIRED_REFERENCE.findall(COMPOSE.read_text()))
    assert referenced == {"POSTGRES_PASSWORD", "CDT_DB_PASSWORD", "CDT_TOKEN_SECRET",
                          "GRAFANA_ADMIN_PASSWORD"}
    assert referenced <= set(example)


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_env_example_has_empty_placeholders_only() -> None:
    assert env_example(), "no variables in .env.example"
    for key, value in env_example().items():
        assert value == "", f"{key} has a value in .env.example"


def test_every_file_compose_mounts_exists() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
    init = ROOT / "deploy" / "compose" / "postgres-init" / "10-cdt-role.sh"
    assert init.stat().st_mode & 0o111, "the init script must be executable"


# Dockerfile


def test_dockerfile_builds_one_pinned_non_root_image_for_every_service() -> None:
    text = DOCKERFILE.read_text()
    for image in re.findall(r"^FROM\s+(\S+)", text, flags=re.M):
        assert PINNED_IMAGE.match(image), image
    assert "pip install ." in text
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] == "10001:10001"
    assert re.search(r'^ENTRYPOINT \["cdt"\]$', text, flags=re.M)
    assert re.search(r'^CMD \["serve", "roster"\]$', text, flags=re.M)


def test_dockerfile_healthcheck_asks_healthz_of_whichever_service_runs() -> None:
    text = DOCKERFILE.read_text()
    check = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", text, flags=re.M)
    assert check, "no HEALTHCHECK"
    command = json.loads(check.group(1))
    assert command[:2] == ["python", "-c"]
    compile(command[2], "healthcheck", "exec")
    assert "/healthz" in command[2] and "urllib" in command[2]
    for name in SERVICES:
        assert f"'{name.upper()}', {DEFAULT_PORTS[name]}" in command[2]


def test_dockerignore_keeps_secrets_state_and_the_venv_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines.index("*") < lines.index("!shared")  # everything out, then what pip needs
    assert {"!shared", "!services", "!cdt", "!pyproject.toml", "!README.md"} <= set(lines)
    assert not any(line.startswith("!") and (".env" in line or ".venv" in line or ".cdt" in line)
                   for line in lines)


# Kubernetes


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == "cdt-desk"
    (image,) = kustomization["images"]
    assert image["name"] == "cdt-desk" and re.fullmatch(r"\d+(\.\d+)+", image["newTag"])


def test_every_manifest_parses_and_lives_in_the_namespace() -> None:
    kinds = [doc["kind"] for doc in manifests()]
    assert kinds.count("Deployment") == 3 and kinds.count("PodDisruptionBudget") == 2
    assert kinds.count("Service") == 6 and "ConfigMap" in kinds and "Namespace" in kinds
    for doc in manifests():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "cdt-desk", doc["metadata"]["name"]


def deployments() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in of_kind("Deployment")}


def test_a_deployment_per_service_with_two_replicas_of_assist_and_reporting() -> None:
    assert set(deployments()) == set(SERVICES)
    assert {name: d["spec"]["replicas"] for name, d in deployments().items()} == {
        "roster": 1, "assist": 2, "reporting": 2}
    for name, deployment in deployments().items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["serve", name]
        assert container["ports"][0]["containerPort"] == DEFAULT_PORTS[name]
        assert PINNED_IMAGE.match(container["image"]), container["image"]


def test_every_container_has_startup_liveness_and_readiness_probes() -> None:
    for name, deployment in deployments().items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name


def test_every_container_has_resource_requests_and_limits() -> None:
    for name, deployment in deployments().items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), (name, bound)


def test_every_pod_runs_non_root_read_only_without_privileges() -> None:
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert context["seccompProfile"]["type"] == "RuntimeDefault", name
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], name


def test_services_and_budgets_select_the_deployments_pods() -> None:
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments().items()}

    def selected(selector: dict) -> list[str]:
        return [name for name, labels in pods.items() if selector.items() <= labels.items()]

    for service in of_kind("Service"):
        (name,) = selected(service["spec"]["selector"])
        assert service["spec"]["ports"][0]["port"] == DEFAULT_PORTS[name]
        assert service["metadata"]["name"] in (name, f"{name}-pods")
    budgets = {selected(b["spec"]["selector"]["matchLabels"])[0] for b in of_kind("PodDisruptionBudget")}
    assert budgets == {"assist", "reporting"}


def test_the_secret_template_holds_placeholders_only() -> None:
    (secret,) = of_kind("Secret")  # the template is the only Secret, and it is not applied
    assert secret["metadata"]["name"] == "cdt-secrets" and "data" not in secret
    assert set(secret["stringData"]) == {"CDT_DATABASE_URL", "CDT_TOKEN_SECRET",
                                         "CDT_KAFKA_SASL_USERNAME", "CDT_KAFKA_SASL_PASSWORD"}
    for key, value in secret["stringData"].items():
        assert value.startswith("<") and value.endswith(">"), key
    for deployment in deployments().values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"secretRef": {"name": "cdt-secrets"}} in container["envFrom"]


def test_the_configmap_holds_the_production_kafka_settings() -> None:
    (config,) = of_kind("ConfigMap")
    data = config["data"]
    assert data["CDT_KAFKA_REPLICATION_FACTOR"] == "3"
    assert data["CDT_KAFKA_IDEMPOTENCE"] == "true"
    assert int(data["CDT_KAFKA_PARTITIONS"]) >= max(d["spec"]["replicas"] for d in deployments().values())
    assert not {"CDT_DATABASE_URL", "CDT_TOKEN_SECRET"} & set(data)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests_with_the_pinned_image() -> None:
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    images = {c["image"] for d in documents if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.org/cdt-desk:0.1.0"}


# Both


def test_every_cdt_variable_set_anywhere_is_a_real_setting() -> None:
    names: set[str] = set()
    for service in compose()["services"].values():
        names |= set(service.get("environment") or {})
    (config,) = of_kind("ConfigMap")
    names |= set(config["data"])
    names |= set(yaml.safe_load((K8S / "secret.example.yaml").read_text())["stringData"])
    names |= set(re.findall(r"^#?\s*(CDT_\w+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    names |= set(re.findall(r"\b(CDT_\w+)=", DOCKERFILE.read_text()))
    cdt_names = {name for name in names if name.startswith("CDT_")} - {"CDT_DB_PASSWORD"}
    assert len(cdt_names) > 10
    unknown = cdt_names - setting_variables() - CLI_VARIABLES
    assert not unknown, f"not a setting of any service: {sorted(unknown)}"


SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    # password: value / PASSWORD=value with a literal value (references and placeholders allowed)
    re.compile(r"(?i)(?<![{\w])\w*password\w*[:=]\s*(?![\s\"']*(\$\{|\$\w|<|$|\"\"|''))\S+"),
    re.compile(r"(?i)(?<![{\w])\w*(secret|token)\w*[:=]\s*[\"']?[A-Za-z0-9+/_\-]{24,}"),
    # a URL with a literal password: scheme://user:password@
    re.compile(r"\w+://[^\s:/@$<]+:(?!\$\{|PASSWORD@)[^\s@/$<]+@"),
]


def committed_deploy_files() -> list[Path]:
    files = [COMPOSE, DOCKERFILE, ENV_EXAMPLE, ROOT / ".dockerignore", ROOT / "docs" / "deploy.md"]
    return files + sorted(p for p in (ROOT / "deploy").rglob("*") if p.is_file())


def test_no_secret_value_in_any_deploy_file() -> None:
    for path in committed_deploy_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for pattern in SECRET_PATTERNS:
                assert not pattern.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_the_secret_check_catches_real_secrets() -> None:
    leaks = ["POSTGRES_PASSWORD=hunter2hunter2", "  password: s3cret",
             "CDT_TOKEN_SECRET=q8Zp3nV5tR1wX9yL2mK7aB4cD6eF0gH", "-----BEGIN RSA PRIVATE KEY-----",
             "CDT_DATABASE_URL: postgresql://cdt:hunter2@postgres:5432/cdt"]
    for leak in leaks:
        assert any(p.search(leak) for p in SECRET_PATTERNS), leak
    fine = ["POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it}", "CDT_TOKEN_SECRET=",
            'CDT_TOKEN_SECRET: "<at least 32 random characters>"',
            "postgresql://cdt:${CDT_DB_PASSWORD:?x}@postgres:5432/cdt",
            "postgresql://cdt:PASSWORD@HOST:5432/cdt"]
    for line in fine:
        assert not any(p.search(line) for p in SECRET_PATTERNS), line
