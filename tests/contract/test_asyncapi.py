"""Each service's AsyncAPI document shows what it consumes and publishes, with the contract models.

The documents come from the real command line (``python -m orderly_<svc> asyncapi``) and
the expectations from what each service declares when it is built (its broker's
subscribers and publishers), so the test follows the services as they grow.
Both run in subprocesses: building a service configures logging and telemetry globally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from orderly_schemas import BY_TYPE

pytestmark = pytest.mark.slow

SERVICES = ("order", "inventory", "payment", "notification", "analytics", "support")
DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"

Doc = dict[str, Any]

# Prints, per service, the topics its broker subscribes to and publishes to.
DECLARATIONS = """
import importlib, json, sys
declared = {}
for name in sys.argv[1:]:
    broker = importlib.import_module(f"orderly_{name}.bootstrap").build().specification_broker()
    declared[name] = {
        "consumes": [t for s in broker.subscribers for t in s.topic_names],
        "publishes": [p.topic for p in broker.publishers],
    }
print(json.dumps(declared))
"""


def run(*args: str) -> str:
    """stdout of ``python *args``, with the services' own settings left at their defaults."""
    prefixes = tuple(f"{name.upper()}_" for name in SERVICES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"python {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def generated() -> dict[str, Doc]:
    """Each service's AsyncAPI document, as ``make docs`` writes it."""
    with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
        outputs = pool.map(lambda s: run("-m", f"orderly_{s}", "asyncapi"), SERVICES)
        return {name: json.loads(out) for name, out in zip(SERVICES, outputs, strict=True)}


@pytest.fixture(scope="module")
def declared() -> dict[str, dict[str, list[str]]]:
    """The topics each built service subscribes to and publishes to."""
    result: dict[str, dict[str, list[str]]] = json.loads(run("-c", DECLARATIONS, *SERVICES))
    return result


def resolve(doc: Doc, ref: str) -> Doc:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    assert isinstance(node, dict), ref
    return node


def operations(doc: Doc, action: str) -> Iterator[tuple[str, Doc]]:
    """(topic, channel) of each operation with ``action`` (``receive`` or ``send``)."""
    for operation in doc["operations"].values():
        if operation["action"] == action:
            channel = resolve(doc, operation["channel"]["$ref"])
            yield channel["address"], channel


def message_types(doc: Doc, channel: Doc) -> set[str]:
    """The contract message types a channel carries (its payloads, through unions)."""
    found: set[str] = set()

    def walk(schema: Doc) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in BY_TYPE:
                found.add(name)
            else:
                walk(resolve(doc, schema["$ref"]))
        for union in ("anyOf", "oneOf"):
            for member in schema.get(union, ()):
                walk(member)

    for ref in channel["messages"].values():
        walk(resolve(doc, ref["$ref"])["payload"])
    return found


def inline(schema: Any, definitions: Doc, prefix: str) -> Any:
    """``schema`` with every ``$ref`` under ``prefix`` replaced by the definition it names."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return inline(definitions[ref.removeprefix(prefix)] | rest, definitions, prefix)
        return {k: inline(v, definitions, prefix) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inline(v, definitions, prefix) for v in schema]
    return schema


@pytest.mark.parametrize("service", SERVICES)
def test_the_document_is_asyncapi_3_of_the_service(generated: dict[str, Doc], service: str) -> None:
    doc = generated[service]

    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == f"Orderly {service} service"


@pytest.mark.parametrize("service", SERVICES)
def test_each_consumed_topic_has_one_receive_channel(
    generated: dict[str, Doc], declared: dict[str, dict[str, list[str]]], service: str
) -> None:
    received = [topic for topic, _ in operations(generated[service], "receive")]

    assert sorted(received) == sorted(declared[service]["consumes"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_published_topic_has_a_send_channel(
    generated: dict[str, Doc], declared: dict[str, dict[str, list[str]]], service: str
) -> None:
    sent = {topic for topic, _ in operations(generated[service], "send")}

    assert sent == set(declared[service]["publishes"])


@pytest.mark.parametrize("service", SERVICES)
def test_every_channel_names_contract_messages_of_its_own_topic(
    generated: dict[str, Doc], service: str
) -> None:
    doc = generated[service]
    for action in ("receive", "send"):
        for topic, channel in operations(doc, action):
            types = message_types(doc, channel)
            assert types, f"{action} {topic}: no contract message; type the handler's payload"
            misplaced = sorted(t for t in types if BY_TYPE[t].topic != topic)
            assert misplaced == [], f"{action} {topic}: these belong on other topics"


@pytest.mark.parametrize("service", SERVICES)
def test_every_message_payload_is_the_contract_model(
    generated: dict[str, Doc], service: str
) -> None:
    schemas: Doc = generated[service]["components"]["schemas"]
    for name in sorted(set(schemas) & set(BY_TYPE)):
        model = BY_TYPE[name].model_json_schema()
        expected = inline(model, model.get("$defs", {}), "#/$defs/")

        documented = inline(schemas[name], schemas, "#/components/schemas/")

        assert documented["title"] == name
        assert documented == expected, f"{service}: the {name} payload differs from the model"


def test_the_order_service_documents_that_it_consumes_order_placed(
    generated: dict[str, Doc],
) -> None:
    doc = generated["order"]
    consumed = {topic: message_types(doc, ch) for topic, ch in operations(doc, "receive")}

    assert "OrderPlaced" in consumed["checkout.orders.v1"]
    assert "order_id" in doc["components"]["schemas"]["OrderPlaced"]["properties"]


def test_the_order_service_documents_the_public_order_lifecycle(
    generated: dict[str, Doc],
) -> None:
    doc = generated["order"]
    published = {topic: message_types(doc, ch) for topic, ch in operations(doc, "send")}

    assert {"OrderConfirmed", "OrderCompleted"} <= published["order.events.v1"]


def test_the_order_service_documents_the_returns_on_their_own_topic(
    generated: dict[str, Doc],
) -> None:
    doc = generated["order"]
    published = {topic: message_types(doc, ch) for topic, ch in operations(doc, "send")}

    assert published["order.returns.v1"] == {
        "ReturnRequested",
        "ReturnApproved",
        "ReturnRejected",
        "ReturnLabelIssued",
        "ReturnReceived",
        "ReturnCompleted",
        "ReturnExpired",
        "ReturnNeedsAttention",
        "ReturnReplacementShipped",
        "ReturnReplacementUnavailable",
    }
    assert not published["order.events.v1"] & published["order.returns.v1"]
    assert {"OrderClaimed", "OrderReshipped"} <= published["order.events.v1"]
    assert {"ShipReplacement"} <= published["inventory.commands.v1"]
    assert {"ChargePayment"} <= published["payment.commands.v1"]


def test_the_support_service_documents_what_it_reads_of_orders_returns_and_customers(
    generated: dict[str, Doc],
) -> None:
    doc = generated["support"]
    consumed = {topic: message_types(doc, ch) for topic, ch in operations(doc, "receive")}
    published = {topic: message_types(doc, ch) for topic, ch in operations(doc, "send")}

    assert consumed == {
        "order.events.v1": {"OrderConfirmed", "OrderDelivered", "OrderCompleted", "OrderClaimed"},
        # Only the steps the after-sales report counts.
        "order.returns.v1": {
            "ReturnRequested",
            "ReturnReceived",
            "ReturnReplacementShipped",
            "ReturnReplacementUnavailable",
            "ReturnCompleted",
        },
        "customer.events.v1": {"CustomerErased"},
    }
    assert published == {
        "support.events.v1": {
            "FeedbackGiven",
            "CaseOpened",
            "CaseStatusChanged",
            "CaseSlaBreached",
            "CaseClosed",
        }
    }


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_document_is_up_to_date(generated: dict[str, Doc], service: str) -> None:
    path = DOCS_DIR / f"{service}.json"

    committed = json.loads(path.read_text()) if path.exists() else None

    assert committed == generated[service], f"docs/asyncapi/{service}.json is stale: run make docs"
