# ./edm deploy-checks (also a step of ./edm lint): offline checks of the
# hand-written deployment files (the Dockerfile's build, .dockerignore,
# Procfile, RustConfig, rust-toolchain, terraform/) against topology.json,
# without Docker and without Terraform providers. docker-compose.yml and the
# Dockerfile's binary list are generated instead (cargo xtask generate). The checks are Python
# (infra/deploy_checks/), run from a virtualenv under .edm/ that is made once
# from pinned PyPI packages.
# Sourced, never run.

EDM_DEPLOY_CHECKS_VENV=$EDM_STATE/deploy-checks/venv

# Makes the virtualenv, again only when requirements.txt changes.
setup_deploy_checks() {
  local requirements=$EDM_ROOT/infra/deploy_checks/requirements.txt
  local stamp=$EDM_DEPLOY_CHECKS_VENV/.requirements-sha want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  command -v python3 >/dev/null || apt_install python3
  log "installing the deploy checks' Python packages into $EDM_DEPLOY_CHECKS_VENV"
  rm -rf "$EDM_DEPLOY_CHECKS_VENV"
  if ! python3 -m venv "$EDM_DEPLOY_CHECKS_VENV" >/dev/null 2>&1; then
    rm -rf "$EDM_DEPLOY_CHECKS_VENV"
    apt_install python3-venv
    python3 -m venv "$EDM_DEPLOY_CHECKS_VENV" || die "could not make a Python virtualenv"
  fi
  "$EDM_DEPLOY_CHECKS_VENV/bin/pip" install --quiet --disable-pip-version-check \
    --requirement "$requirements" >&2 \
    || die "could not install the deploy checks' Python packages (see $requirements)"
  echo "$want" >"$stamp"
}

# deploy_checks [--self-test]: fails (exit 1) on any problem found.
# --self-test breaks copies of the files one way at a time and expects the
# checks to catch each.
deploy_checks() {
  setup_deploy_checks
  local module=deploy_checks
  [ "${1:-}" = --self-test ] && module=deploy_checks.selftest
  PYTHONPATH=$EDM_ROOT/infra PYTHONDONTWRITEBYTECODE=1 \
    "$EDM_DEPLOY_CHECKS_VENV/bin/python" -m "$module" --root "$EDM_ROOT" \
    || die "deploy checks failed (see above)"
}
