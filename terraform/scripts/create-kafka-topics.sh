#!/usr/bin/env bash
# Creates EDM's Kafka topics (and, on multi-tenant basic plans, its consumer
# groups) on an Apache Kafka on Heroku add-on, with the Heroku CLI.
# Run by Terraform (kafka-topics.tf) after the add-on is created, or by hand:
#
#   terraform/scripts/create-kafka-topics.sh APP
#
# APP is the app that has the add-on (`terraform output kafka_app`). Needs the
# `heroku` CLI, logged in or with HEROKU_API_KEY set. Safe to run again:
# names that already exist are left alone.
#
# The topics and consumer groups are those of topology.json at the
# repository root, listed in kafka-names.sh next to this script (generated
# by `cargo xtask generate`, held to topology.json by `cargo xtask check`).
# Names are logical (no KAFKA_PREFIX): on basic plans Heroku puts the app's
# KAFKA_PREFIX in front of topics and consumer groups itself, and the services
# add the same prefix when they connect. Dedicated plans have no prefix and
# need no consumer groups created ahead.
set -euo pipefail

say() { printf 'create-kafka-topics: %s\n' "$*" >&2; }

app=${1:?usage: create-kafka-topics.sh APP}
# shellcheck source=kafka-names.sh
. "$(dirname "$0")/kafka-names.sh"
topics=$EDM_TOPOLOGY_TOPICS
# Those of them compacted (edm-trending-counts).
compacted_topics=$EDM_TOPOLOGY_COMPACTED_TOPICS
# NAME:PARTITIONS:compact|delete, e.g. edm-trending's changelog.
internal_topics=$EDM_TOPOLOGY_INTERNAL_TOPICS
groups=$EDM_TOPOLOGY_CONSUMER_GROUPS
partitions=${EDM_KAFKA_PARTITIONS:-8}

# The CLI, its Kafka plugin and a login, before anything is asked of them.
bash "$(dirname "$0")/check-heroku-cli.sh"

# Runs a create command; an "already exists" answer counts as success.
create_once() {
  local what=$1 output
  shift
  if output=$("$@" 2>&1); then
    say "created $what"
  elif grep -qi 'already exists\|already been taken\|already taken' <<<"$output"; then
    say "$what already exists"
  else
    printf '%s\n' "$output" >&2
    say "could not create $what"
    return 1
  fi
}

say "waiting for the Kafka add-on of $app to be available"
heroku kafka:wait --app "$app"

prefix=$(heroku config:get KAFKA_PREFIX --app "$app")
if [ -n "$prefix" ]; then
  say "multi-tenant (basic) plan: KAFKA_PREFIX is '$prefix'"
else
  say "dedicated plan: no KAFKA_PREFIX"
fi

# Turns compaction on for a topic (the latest record per key holds).
enable_compaction() {
  heroku kafka:topics:compaction "$1" enable --app "$app" >/dev/null \
    || { say "could not enable compaction on ${prefix}$1"; exit 1; }
  say "compaction enabled on ${prefix}$1"
}

for topic in $topics; do
  topic=${topic#"$prefix"} # accept names given with the prefix too
  create_once "topic ${prefix}${topic}" \
    heroku kafka:topics:create "$topic" --partitions "$partitions" --app "$app"
  if [[ " $compacted_topics " == *" $topic "* ]]; then
    enable_compaction "$topic"
  fi
done

for entry in $internal_topics; do
  IFS=: read -r topic count policy <<<"$entry"
  topic=${topic#"$prefix"}
  create_once "topic ${prefix}${topic}" \
    heroku kafka:topics:create "$topic" --partitions "$count" --app "$app"
  if [ "$policy" = compact ]; then
    enable_compaction "$topic"
  fi
done

if [ -n "$prefix" ]; then
  for group in $groups; do
    group=${group#"$prefix"}
    create_once "consumer group ${prefix}${group}" \
      heroku kafka:consumer-groups:create "$group" --app "$app"
  done
fi

say "done; check with: heroku kafka:topics --app $app"
