# One Heroku app per service of topology.json, the one description of EDM's
# services at the repository root. Every app is built from the same source and
# the one Procfile; EDM_SERVICE tells its web process which binary to run.

locals {
  topology = jsondecode(file("${path.module}/../topology.json"))

  # Service key => workspace binary (crate) name.
  services = { for service in local.topology.services : service.key => service.name }

  # The services that talk to Kafka; the add-on lives on the first and is
  # attached to the others.
  kafka_services         = [for service in local.topology.services : service.key if try(service.kafka, false)]
  kafka_host_service     = local.kafka_services[0]
  kafka_attached_service = slice(local.kafka_services, 1, length(local.kafka_services))

  # The services whose apps turn on session affinity (edm-stream).
  session_affinity_services = [for service in local.topology.services : service.key if try(service.session_affinity, false)]

  # The service that has the database (Heroku Postgres).
  database_service = one([for service in local.topology.services : service.key if try(service.database, false)])
}

resource "heroku_app" "service" {
  for_each = local.services

  name       = "${var.name_prefix}-${each.key}"
  region     = var.region
  stack      = var.stack
  buildpacks = [var.buildpack]

  # Config vars are all set in one place: heroku_app_config_association
  # (config.tf), since some of them are the other apps' URLs.

  dynamic "organization" {
    for_each = var.team == null ? [] : [var.team]
    content {
      name = organization.value
    }
  }

  # Nothing is created until the Heroku CLI can create the Kafka topics.
  depends_on = [terraform_data.heroku_cli_check]
}

# Socket.io's long-polling transport needs every request of a session to
# reach the same dyno, which Heroku's router does only with session affinity
# (a cookie). The dashboard uses WebSockets only, one connection per session,
# and works without it; affinity is on so that pages using socket.io-client's
# default options (long-polling first) work with several edm-stream dynos too.
resource "heroku_app_feature" "session_affinity" {
  for_each = toset(local.session_affinity_services)

  app_id = heroku_app.service[each.key].id
  name   = "http-session-affinity"
}
