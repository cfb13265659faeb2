# Supply chain checks, run by ./edm lint:
#   - cargo deny (deny.toml): licenses, banned crates (sqlx's unused MySQL
#     driver and rsa among them) and sources (crates.io only), on the
#     dependency graph that is really built. Always runs.
#   - known vulnerabilities: RustSec advisories (cargo deny) and npm's
#     advisories for every package-lock.json. Both databases come from the
#     network (RustSec's from GitHub, npm's from the registry's audit
#     endpoint). A vulnerability found fails lint; a database that cannot
#     be reached is reported loudly as "not checked", never as a pass.
# ./edm audit runs the vulnerability checks alone and fails when a database
# cannot be reached.

EDM_CARGO_DENY_VERSION=0.20.2
EDM_NPM_LOCKFILES=(crates/edm-stream/tests/client crates/edm-dashboard/web tests-e2e)

setup_cargo_deny() {
  if cargo deny --version 2>/dev/null | grep -q "$EDM_CARGO_DENY_VERSION"; then
    return 0
  fi
  log "installing cargo-deny $EDM_CARGO_DENY_VERSION (cargo install, a few minutes once)"
  cargo install --locked --quiet cargo-deny --version "$EDM_CARGO_DENY_VERSION" >&2 \
    || die "cargo install cargo-deny failed"
}

supply_chain_policy() {
  cargo deny --log-level error check licenses bans sources \
    || die "cargo deny found a dependency deny.toml does not allow"
}

# 0: checked, nothing found; 1: vulnerabilities found; 2: database unreachable.
rust_advisories() {
  cargo deny --log-level error fetch db >/dev/null 2>&1 || return 2
  cargo deny --log-level error check --disable-fetch advisories || return 1
}

npm_advisories() {
  local dir report verdict worst=0
  for dir in "${EDM_NPM_LOCKFILES[@]}"; do
    report=$(cd "$EDM_ROOT/$dir" && npm audit --package-lock-only --json 2>/dev/null || true)
    verdict=$(node -e '
let report;
try {
  report = JSON.parse(require("fs").readFileSync(0, "utf8") || "{}");
} catch {
  console.log("unreachable");
  process.exit();
}
const counts = report.metadata && report.metadata.vulnerabilities;
console.log(counts ? ["moderate", "high", "critical"].reduce((n, level) => n + (counts[level] || 0), 0) : "unreachable");
' <<<"$report")
    case "$verdict" in
      unreachable) worst=2 ;;
      0) ;;
      *) log "npm audit: $verdict vulnerabilities (moderate or worse) in $dir/package-lock.json"
         (cd "$EDM_ROOT/$dir" && npm audit --package-lock-only >&2 || true)
         [ "$worst" -eq 2 ] || worst=1 ;;
    esac
  done
  return "$worst"
}

# Runs both vulnerability checks; $1=strict makes an unreachable database fail.
vulnerability_checks() {
  local strict=${1:-} outcome name
  for name in rust npm; do
    outcome=0
    "${name}_advisories" || outcome=$?
    case $outcome in
      0) log "$name advisories: checked, none found" ;;
      1) die "$name advisories: vulnerable dependencies (see above)" ;;
      2) if [ "$strict" = strict ]; then
           die "$name advisories: the advisory database cannot be reached"
         fi
         log "WARNING: $name advisories NOT CHECKED: the advisory database cannot be reached from this machine (./edm audit fails in that case)" ;;
    esac
  done
}
