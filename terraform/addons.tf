# Backing services: one Apache Kafka on Heroku add-on shared by the Kafka
# services (KAFKA_URL, KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT,
# KAFKA_CLIENT_CERT_KEY and, on basic plans, KAFKA_PREFIX), and Heroku
# Postgres for the database service (DATABASE_URL); both from topology.json.

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
