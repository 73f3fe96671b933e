"""Who may do what on Kafka: a user per service and its ACLs, derived from the code.

Each service's Kafka user may
- read (and describe) the topics it subscribes to, with its consumer group ``orderly.<svc>``;
- write the topics it publishes through its outbox;
- write, read and describe the dead-letter topics ``<topic>.dlq`` of the topics it reads:
  its consumers dead-letter there (through its own outbox) and its ``dead-letters
  list|show|discard`` commands read them;
- describe the consumer groups whose committed offsets it reads (the order service asks
  whether its commands are still queued).

Two more users: ``checkout``, upstream, the producer of ``checkout.orders.v1``; and
``dead-letter-replay``, which ``dead-letters replay`` runs as. A replay publishes the original
message again to the topic it was read from, which the reading service itself may not write
(only that topic's producers may: no service can forge another's commands or events). The
replay user may write every consumed topic and read their dead letters; no Deployment holds
its password, an operator gives it for the command.

``python -m orderly_dev.kafka_access --write`` writes these as Strimzi ``KafkaUser``s
(``deploy/k8s/base/kafka-users.yaml``) and as the list compose's ``kafka-access`` step applies
to Apache Kafka (``deploy/compose/kafka-acls.txt``); tests/deploy fails when either differs
from what the services declare. The services are built in a subprocess: building one
configures logging and telemetry for the whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from orderly_kit.service import consumer_group
from orderly_schemas.topics import CHECKOUT_ORDERS, dead_letter_topic

SERVICES: Final = ("order", "inventory", "payment", "notification", "analytics", "support")
#: Upstream checkout: the only producer of orders on Kafka.
CHECKOUT: Final = "checkout"
#: The user ``dead-letters replay`` runs as.
DEAD_LETTER_REPLAY: Final = "dead-letter-replay"
#: The Strimzi cluster the users belong to (its User Operator creates them).
CLUSTER: Final = "orderly"

REPO: Final = Path(__file__).resolve().parents[4]
KAFKA_USERS: Final = REPO / "deploy" / "k8s" / "base" / "kafka-users.yaml"
COMPOSE_ACLS: Final = REPO / "deploy" / "compose" / "kafka-acls.txt"

ResourceType = Literal["topic", "group"]
#: Kafka's operations in the order the files list them.
OPERATIONS: Final = ("Read", "Write", "Describe")


@dataclass(frozen=True)
class Uses:
    """What one service does on Kafka, as its code declares it."""

    consumes: tuple[str, ...]
    publishes: tuple[str, ...]
    reads_offsets_of: tuple[str, ...] = ()


@dataclass(frozen=True, order=True)
class Acl:
    """Operations a user may perform on one topic or consumer group (literal name)."""

    resource: ResourceType
    name: str
    operations: tuple[str, ...]


# Builds each service as `python -m orderly_<svc>` would and prints what it declares.
_DECLARATIONS = """
import importlib, json, sys
declared = {}
for name in sys.argv[1:]:
    service = importlib.import_module(f"orderly_{name}.bootstrap").build()
    declared[name] = {
        "consumes": service.consumed_topics,
        "publishes": service.published_topics,
        "reads_offsets_of": service.groups_whose_offsets_are_read,
    }
print(json.dumps(declared))
"""


def declared_uses(services: Iterable[str] = SERVICES) -> dict[str, Uses]:
    """What each service consumes, publishes and inspects, from the services themselves."""
    prefixes = tuple(f"{name.upper()}_" for name in SERVICES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", _DECLARATIONS, *services],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the services failed:\n{done.stderr[-3000:]}")
    found: dict[str, dict[str, list[str]]] = json.loads(done.stdout)
    return {
        name: Uses(
            consumes=tuple(d["consumes"]),
            publishes=tuple(d["publishes"]),
            reads_offsets_of=tuple(d["reads_offsets_of"]),
        )
        for name, d in found.items()
    }


def _merged(grants: Iterable[tuple[ResourceType, str, str]]) -> tuple[Acl, ...]:
    """One ACL per resource with all its operations, in a stable order."""
    by_resource: dict[tuple[ResourceType, str], set[str]] = {}
    for resource, name, operation in grants:
        by_resource.setdefault((resource, name), set()).add(operation)
    return tuple(
        Acl(resource, name, tuple(op for op in OPERATIONS if op in operations))
        for (resource, name), operations in sorted(by_resource.items())
    )


def service_acls(service: str, uses: Uses) -> tuple[Acl, ...]:
    """The ACLs of one service's user."""
    grants: list[tuple[ResourceType, str, str]] = []
    for topic in uses.consumes:
        grants += [("topic", topic, "Read"), ("topic", topic, "Describe")]
        dlq = dead_letter_topic(topic)
        grants += [("topic", dlq, "Write"), ("topic", dlq, "Read"), ("topic", dlq, "Describe")]
    for topic in uses.publishes:
        grants += [("topic", topic, "Write"), ("topic", topic, "Describe")]
    if uses.consumes:
        grants.append(("group", consumer_group(service), "Read"))
    grants += [("group", group, "Describe") for group in uses.reads_offsets_of]
    return _merged(grants)


def users(uses_by_service: Mapping[str, Uses]) -> dict[str, tuple[Acl, ...]]:
    """Every Kafka user of the suite and its ACLs: the services', checkout's, replay's."""
    found = {name: service_acls(name, uses) for name, uses in uses_by_service.items()}
    found[CHECKOUT] = _merged(
        [("topic", CHECKOUT_ORDERS, "Write"), ("topic", CHECKOUT_ORDERS, "Describe")]
    )
    consumed = {topic for uses in uses_by_service.values() for topic in uses.consumes}
    replay: list[tuple[ResourceType, str, str]] = []
    for topic in consumed:
        replay += [("topic", topic, "Write"), ("topic", topic, "Describe")]
        replay += [("topic", dead_letter_topic(topic), op) for op in ("Read", "Describe")]
    found[DEAD_LETTER_REPLAY] = _merged(replay)
    return found


class _IndentedDumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML has no types here
    """Block lists indented under their key, as the other manifests write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_WHO: Final = {
    CHECKOUT: "Upstream checkout: the only producer of checkout.orders.v1 (hand its Secret"
    " to the checkout team).",
    DEAD_LETTER_REPLAY: "`dead-letters replay` runs as this user: it may write the topics"
    " the services consume and read their dead letters. No Deployment holds its password.",
}


def kafka_users_yaml(acls_by_user: Mapping[str, tuple[Acl, ...]]) -> str:
    """The Strimzi ``KafkaUser`` resources (kafka.strimzi.io/v1) of every user."""
    header = "".join(
        f"# {line}\n".replace("# \n", "#\n")
        for line in (
            "Generated by `python -m orderly_dev.kafka_access --write` from what each service",
            "consumes and publishes (orderly_dev/kafka_access.py says why each ACL is there);",
            "tests/deploy fails when it differs. Do not edit by hand.",
            "",
            "Strimzi's User Operator creates each user with a SCRAM-SHA-512 password, in a Secret",
            f'of the user\'s name (key `password`), and sets its ACLs on the cluster "{CLUSTER}"',
            "(authorization type simple). A service's Deployment reads its own user's Secret.",
            "The order service also writes checkout.orders.v1: POST /orders, checkout's HTTP way",
            "in, publishes OrderPlaced there through the order service's outbox.",
        )
    )
    documents = []
    for user, acls in acls_by_user.items():
        comment = _WHO.get(user, f"The {user} service.")
        resource: dict[str, Any] = {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaUser",
            "metadata": {
                "name": user,
                "labels": {"strimzi.io/cluster": CLUSTER, "app.kubernetes.io/part-of": "orderly"},
            },
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {
                    "type": "simple",
                    "acls": [
                        {
                            "resource": {
                                "type": acl.resource,
                                "name": acl.name,
                                "patternType": "literal",
                            },
                            "operations": list(acl.operations),
                        }
                        for acl in acls
                    ],
                },
            },
        }
        body = yaml.dump(
            resource, Dumper=_IndentedDumper, sort_keys=False, width=100, default_flow_style=None
        )
        documents.append(textwrap.indent(textwrap.fill(comment, 92), "# ") + f"\n{body}")
    return header + "\n" + "---\n".join(documents)


def compose_acls(acls_by_user: Mapping[str, tuple[Acl, ...]]) -> str:
    """The same ACLs, one line per user, resource type and operations, for compose."""
    lines = [
        "# Generated by `python -m orderly_dev.kafka_access --write`, like",
        "# deploy/k8s/base/kafka-users.yaml (the same users and ACLs); tests/deploy fails when",
        "# it differs. Do not edit by hand. deploy/compose/kafka-access.sh applies it.",
        "# <user> <topic|group> <operations> <name>...",
    ]
    for user, acls in acls_by_user.items():
        grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for acl in acls:
            grouped.setdefault((acl.resource, acl.operations), []).append(acl.name)
        for (resource, operations), names in grouped.items():
            lines.append(f"{user} {resource} {','.join(operations)} {' '.join(names)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orderly_dev.kafka_access",
        description="The suite's Kafka users and ACLs, from what the services declare.",
    )
    parser.add_argument(
        "--write", action="store_true", help=f"write {KAFKA_USERS.name} and {COMPOSE_ACLS.name}"
    )
    ns = parser.parse_args(argv)
    acls = users(declared_uses())
    if ns.write:
        KAFKA_USERS.write_text(kafka_users_yaml(acls))
        COMPOSE_ACLS.write_text(compose_acls(acls))
        print(f"wrote {KAFKA_USERS.relative_to(REPO)} and {COMPOSE_ACLS.relative_to(REPO)}")
    else:
        sys.stdout.write(compose_acls(acls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
