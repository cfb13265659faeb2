#!/usr/bin/env bash
# Browser tests of the store and the dashboard in Debian's headless Chromium.
#   tests-e2e/run.sh [test files…]
# Installs chromium (apt) and the locked npm packages when missing, builds
# the services' binaries, and runs node's test runner. The full-flow test
# also needs `./edm infra up`; without it, it is skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x "${EDM_CHROMIUM:-/usr/bin/chromium}" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
members=$(cd .. && cargo metadata --no-deps --format-version 1 |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).packages.map((p) => p.name).join(" ")))')
packages=()
for crate in edm-ui edm-dashboard edm-relay edm-stream edm-stats; do
  case " $members " in *" $crate "*) packages+=(-p "$crate") ;; esac
done
(cd .. && cargo build --locked "${packages[@]}")
if [ "$#" -eq 0 ]; then set -- *.test.mjs; fi
exec node --test --test-concurrency=1 "$@"
