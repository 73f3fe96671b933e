#!/usr/bin/env bash
# Creates the suite's Kafka users (SCRAM-SHA-512) and their ACLs, then exits (compose's
# kafka-access). The users and ACLs are deploy/compose/kafka-acls.txt, generated from the
# code with the same ACLs as the Strimzi KafkaUsers of deploy/k8s (tests/deploy checks
# both); each user's password is SCRAM_PASSWORD_<USER> (upper case, "-" as "_"). Adding a
# credential or an ACL that exists changes nothing, so a re-run is harmless.
set -euo pipefail

bootstrap="${BOOTSTRAP_SERVERS:-kafka:9091}"
admin_config="${COMMAND_CONFIG:-/etc/kafka/orderly/admin.properties}"
acls_file="${ACLS_FILE:-/opt/orderly/kafka-acls.txt}"
bin="${KAFKA_BIN:-/opt/kafka/bin}"

# One line per user, resource type and operations: "<user> <topic|group> <ops> <name>...".
mapfile -t grants < <(grep -Ev '^[[:space:]]*(#|$)' "$acls_file")
mapfile -t users < <(printf '%s\n' "${grants[@]}" | cut -d' ' -f1 | sort -u)

# Every password must be there before anything changes.
for user in "${users[@]}"; do
  var="SCRAM_PASSWORD_$(tr 'a-z-' 'A-Z_' <<<"$user")"
  if [[ -z "${!var:-}" ]]; then
    echo "$var is not set: the password of the Kafka user $user" >&2
    exit 1
  fi
done

# The user's credential, then its ACLs (each tool call is a JVM: users run side by side).
grant_user() {
  local user="$1" var line resource operations names args
  var="SCRAM_PASSWORD_$(tr 'a-z-' 'A-Z_' <<<"$user")"
  "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --command-config "$admin_config" \
    --alter --entity-type users --entity-name "$user" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${!var}]" >/dev/null
  for line in "${grants[@]}"; do
    read -r grantee resource operations names <<<"$line"
    [[ "$grantee" == "$user" ]] || continue
    args=()
    for operation in ${operations//,/ }; do args+=(--operation "$operation"); done
    for name in $names; do args+=("--$resource" "$name"); done
    "$bin/kafka-acls.sh" --bootstrap-server "$bootstrap" --command-config "$admin_config" \
      --add --allow-principal "User:$user" "${args[@]}" >/dev/null
  done
  echo "user $user: credential and ACLs in place"
}

pids=()
for user in "${users[@]}"; do
  grant_user "$user" &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
exit "$failed"
