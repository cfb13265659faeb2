# Every app's config vars, in one resource (the add-ons add their own):
# EDM_SERVICE, the binary the app builds and runs; EDM_TRUSTED_PROXY_HOPS;
# edm-trending's processing guarantee (at least once on basic Kafka plans,
# which may not grant transactional ids);
# and the wiring from the apps' real web URLs (Heroku app host names carry a
# random suffix, so they are never built by hand), as wiring.json lists it
# (generated from topology.json by the Rust that wires every other place).
# The builds wait for it (builds.tf), so each build already sees its
# EDM_SERVICE.

locals {
  # "https://name-1a2b3c.herokuapp.com/" => "https://name-1a2b3c.herokuapp.com"
  origin = { for key, app in heroku_app.service : key => trimsuffix(app.web_url, "/") }

  # Service (binary) name => its app's origin.
  origin_of = { for service in local.topology.services : service.name => local.origin[service.key] }

  # Service key => the variables that point at other services (the URL
  # variables it reads, EDM_ALLOWED_ORIGINS), from wiring.json, which
  # `cargo xtask generate` writes from topology.json as edm-config wires
  # every service: each lists services, replaced here by their origins.
  wiring = jsondecode(file("${path.module}/wiring.json")).services
  wired = {
    for key, vars in local.wiring : key => {
      for variable, names in vars : variable => join(",", [for name in names : local.origin_of[name]])
    }
  }

  # App key => the processing guarantee, for the services that use Kafka
  # transactions (topology.json's kafka_transactions: edm-trending).
  trending_guarantee = {
    for service in local.topology.services : service.key => {
      EDM_TRENDING_PROCESSING_GUARANTEE = coalesce(
        var.trending_processing_guarantee,
        local.kafka_plan_is_basic ? "at_least_once" : "exactly_once",
      )
    } if try(service.kafka_transactions, false)
  }

  service_config = {
    for key, name in local.services : key => merge(
      {
        EDM_SERVICE = name
        # Heroku's router is the one proxy in front of every dyno: it appends
        # the client's address to X-Forwarded-For (rate limits and logs use
        # it) and says X-Forwarded-Proto: https (HSTS is sent then).
        EDM_TRUSTED_PROXY_HOPS = "1"
      },
      local.wired[key],
      try(local.trending_guarantee[key], {}),
    )
  }
}

resource "heroku_app_config_association" "service" {
  for_each = local.services

  app_id = heroku_app.service[each.key].id
  vars   = local.service_config[each.key]
}
