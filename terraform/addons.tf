# Backing services: one Apache Kafka on Heroku add-on shared by the Kafka
# services (KAFKA_URL, KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT,
# KAFKA_CLIENT_CERT_KEY and, on basic plans, KAFKA_PREFIX), and Heroku
# Postgres for the database service (DATABASE_URL); both from topology.json.

locals {
  # Multi-tenant plans are provisioned within minutes; a dedicated plan
  # (standard-*, extended-*) builds a cluster for the app, so the apply waits
  # longer for it (the provider's timeouts block, versions.tf).
  kafka_plan_is_basic  = can(regex("^heroku-kafka:basic-", var.kafka_plan))
  addon_create_timeout = coalesce(var.addon_create_timeout, local.kafka_plan_is_basic ? 20 : 60)
}

resource "heroku_addon" "kafka" {
  app_id = heroku_app.service[local.kafka_host_service].id
  plan   = var.kafka_plan
}

resource "heroku_addon_attachment" "kafka" {
  for_each = toset(local.kafka_attached_service)

  app_id   = heroku_app.service[each.key].id
  addon_id = heroku_addon.kafka.id
  name     = "KAFKA"
}

resource "heroku_addon" "postgres" {
  app_id = heroku_app.service[local.database_service].id
  plan   = var.postgres_plan
}
