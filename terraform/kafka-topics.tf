# Kafka on Heroku never creates topics on first write, and the Heroku provider
# cannot create topics or consumer groups, so the Heroku CLI does it once the
# add-on is ready (scripts/create-kafka-topics.sh; needs `heroku` logged in or
# HEROKU_API_KEY). On basic plans it also creates the consumer groups.

resource "terraform_data" "kafka_topics" {
  triggers_replace = [heroku_addon.kafka.id]

  provisioner "local-exec" {
    command = "bash '${path.module}/scripts/create-kafka-topics.sh' '${heroku_app.service[local.kafka_host_service].name}'"
    environment = {
      EDM_KAFKA_TOPICS          = "edm-ui-click edm-ui-pageload"
      EDM_KAFKA_CONSUMER_GROUPS = "edm-consumer-group-1 edm-consumer-group-2"
      EDM_KAFKA_PARTITIONS      = tostring(var.kafka_topic_partitions)
    }
  }
}
