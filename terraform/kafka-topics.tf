# Kafka on Heroku never creates topics on first write, and the Heroku provider
# cannot create topics or consumer groups, so the Heroku CLI does it once the
# add-on is ready (scripts/create-kafka-topics.sh; needs `heroku` logged in or
# HEROKU_API_KEY). On basic plans it also creates the consumer groups. The
# names come from topology.json; changing them there runs the script again.

# Before the first app (and long before the paid add-ons) exists: the Heroku
# CLI, its Kafka plugin and a login, without which the topic step below would
# fail midway through the apply.
resource "terraform_data" "heroku_cli_check" {
  provisioner "local-exec" {
    command = "bash '${path.module}/scripts/check-heroku-cli.sh'"
  }
}

locals {
  consumer_groups = [for service in local.topology.services : service.consumer_group if can(service.consumer_group)]
  # NAME:PARTITIONS:compact|delete (edm-trending's repartition and changelog topics).
  internal_topics = [for topic in try(local.topology.internal_topics, []) :
  "${topic.name}:${topic.partitions}:${try(topic.compact, false) ? "compact" : "delete"}"]
}

resource "terraform_data" "kafka_topics" {
  triggers_replace = [heroku_addon.kafka.id, local.topology.topics, local.internal_topics, local.consumer_groups]

  provisioner "local-exec" {
    command = "bash '${path.module}/scripts/create-kafka-topics.sh' '${heroku_app.service[local.kafka_host_service].name}'"
    environment = {
      EDM_KAFKA_TOPICS          = join(" ", local.topology.topics)
      EDM_KAFKA_INTERNAL_TOPICS = join(" ", local.internal_topics)
      EDM_KAFKA_CONSUMER_GROUPS = join(" ", local.consumer_groups)
      EDM_KAFKA_PARTITIONS      = tostring(var.kafka_topic_partitions)
    }
  }
}
