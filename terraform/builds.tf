# Builds every app from the source tarball (the build waits for the release
# phase, which migrates the stats database), then scales the web processes.
# Builds start only when the add-ons, topics and config vars are in place, so
# the first release already sees everything it needs.

resource "heroku_build" "service" {
  for_each = local.services

  app_id = heroku_app.service[each.key].id

  source {
    url      = var.source_url
    checksum = var.source_checksum
    version  = var.source_version
  }

  depends_on = [
    heroku_addon.postgres,
    heroku_addon_attachment.kafka,
    heroku_app_config_association.service,
    terraform_data.kafka_topics,
  ]
}

locals {
  formation = {
    for key, _ in local.services : key => {
      size     = coalesce(try(var.dynos[key].size, null), var.dyno_size)
      quantity = coalesce(try(var.dynos[key].quantity, null), var.dyno_quantity)
    }
  }
}

resource "heroku_formation" "service" {
  for_each = local.services

  app_id   = heroku_app.service[each.key].id
  type     = "web"
  size     = local.formation[each.key].size
  quantity = local.formation[each.key].quantity

  depends_on = [heroku_build.service]

  lifecycle {
    precondition {
      condition     = alltrue([for key in keys(var.dynos) : contains(keys(local.services), key)])
      error_message = "dynos keys must be service keys from topology.json: ${join(", ", keys(local.services))}."
    }
  }
}
