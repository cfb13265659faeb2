#!/usr/bin/env bash
# Checks, before anything is created, that the Heroku CLI can create EDM's
# Kafka topics: the `heroku` command, its Kafka plugin, and a login (or
# HEROKU_API_KEY). Terraform runs it before the first app is created
# (kafka-topics.tf), so a missing piece fails the plan's first step instead
# of the apply after paid add-ons exist; create-kafka-topics.sh runs it too.
#
#   terraform/scripts/check-heroku-cli.sh
set -euo pipefail

say() { printf 'check-heroku-cli: %s\n' "$*" >&2; }

command -v heroku >/dev/null \
  || { say "the Heroku CLI (heroku) is not installed; see docs/deploy.md"; exit 1; }
for command in kafka:wait kafka:topics:create kafka:consumer-groups:create; do
  heroku "$command" --help >/dev/null 2>&1 \
    || { say "the Heroku CLI has no '$command': install the Kafka plugin with 'heroku plugins:install heroku-kafka'"; exit 1; }
done
heroku auth:whoami >/dev/null 2>&1 \
  || { say "the Heroku CLI is not logged in: run 'heroku login' or set HEROKU_API_KEY"; exit 1; }
say "the Heroku CLI and its Kafka plugin are ready"
