#!/usr/bin/env bash
# Creates every Orderly topic and its dead-letter topic, then exits (compose's topic-init).
# The list equals orderly_schemas.topics.ALL_TOPICS plus each one's ".dlq"; tests/deploy
# fails when the two drift apart. Creating only what is missing keeps a re-run quick.
set -euo pipefail

bootstrap="${BOOTSTRAP_SERVERS:-kafka:9091}"
partitions="${PARTITIONS:-12}"
replication="${REPLICATION_FACTOR:-1}"
kafka_topics=/opt/kafka/bin/kafka-topics.sh
# The admin user's client settings (SASL): the broker authenticates everyone.
connection=(--bootstrap-server "$bootstrap")
if [[ -n "${COMMAND_CONFIG:-}" ]]; then
  connection+=(--command-config "$COMMAND_CONFIG")
fi

topics=(
  checkout.orders.v1
  checkout.orders.v1.dlq
  order.events.v1
  order.events.v1.dlq
  order.returns.v1
  order.returns.v1.dlq
  customer.events.v1
  customer.events.v1.dlq
  inventory.commands.v1
  inventory.commands.v1.dlq
  inventory.events.v1
  inventory.events.v1.dlq
  payment.commands.v1
  payment.commands.v1.dlq
  payment.events.v1
  payment.events.v1.dlq
  notification.events.v1
  notification.events.v1.dlq
  support.events.v1
  support.events.v1.dlq
)

existing="$("$kafka_topics" "${connection[@]}" --list)"
for topic in "${topics[@]}"; do
  if grep -qxF "$topic" <<<"$existing"; then
    echo "exists:  $topic"
    continue
  fi
  # Messages are keyed by order id; the partition count bounds consumer parallelism and
  # cannot be lowered later without re-keying, so it is set here, not left to defaults.
  "$kafka_topics" "${connection[@]}" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor "$replication"
done
