"""Offline checks of EDM's deployment files: docker-compose.yml, Dockerfile,
Procfile, RustConfig and terraform/. Run with `./edm deploy-checks`.

Layout: contract.py (what every deployment must provide), workspace.py (the
binaries the Cargo workspace builds), report.py (collects results),
compose_check.py, dockerfile_check.py, heroku_check.py, terraform_check.py
(one area each), __main__.py (runs them all).
"""
