# One Heroku app per EDM service. Every app is built from the same source and
# the one Procfile; EDM_SERVICE tells its web process which binary to run.

locals {
  # Service key => workspace binary (crate) name.
  services = {
    relay     = "edm-relay"
    stream    = "edm-stream"
    stats     = "edm-stats"
    ui        = "edm-ui"
    dashboard = "edm-dashboard"
  }

  # The services that talk to Kafka; the add-on lives on relay and is
  # attached to the others.
  kafka_host_service     = "relay"
  kafka_attached_service = ["stream", "stats"]
}

resource "heroku_app" "service" {
  for_each = local.services

  name       = "${var.name_prefix}-${each.key}"
  region     = var.region
  stack      = var.stack
  buildpacks = [var.buildpack]

  config_vars = {
    EDM_SERVICE = each.value
  }

  dynamic "organization" {
    for_each = var.team == null ? [] : [var.team]
    content {
      name = organization.value
    }
  }
}
