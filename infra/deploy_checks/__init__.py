"""Offline checks of EDM's deployment files against topology.json, the one
description of its services: docker-compose.yml, Dockerfile, Procfile,
RustConfig and terraform/. Run with `./edm deploy-checks`.

Layout: topology.py (loads topology.json and checks it is consistent),
workspace.py (the binaries the Cargo workspace builds), report.py (collects
results), compose_check.py, dockerfile_check.py, heroku_check.py,
terraform_check.py (one area each), env_rules.py (edm-config's rules for
Kafka values), __main__.py (runs them all), selftest.py (breaks copies of the
files and expects the checks to notice).
"""
