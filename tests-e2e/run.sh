#!/usr/bin/env bash
# Browser tests of the store and the dashboard in Debian's headless Chromium.
#   tests-e2e/run.sh [test files…]
# Installs chromium (apt) and the locked npm packages when missing, builds
# the services' binaries and edm-tool, and runs node's test runner. The full-flow test
# also needs `./edm infra up`; without it, it is skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x "${EDM_CHROMIUM:-/usr/bin/chromium}" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
# The services the tests start, and edm-tool, which starts them, built as
# `cargo test --workspace` builds them (a no-op after it, as in ./edm test;
# a narrower `cargo build -p ...` unifies features differently and
# compiles them all again).
(cd .. && cargo test --workspace --locked --no-run)
if [ "$#" -eq 0 ]; then set -- *.test.mjs; fi
exec node --test --test-concurrency=1 "$@"
