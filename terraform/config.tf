# Wires the apps to each other from their real web URLs (Heroku app host
# names carry a random suffix, so they are never built by hand): where the
# store's pages send events, where the dashboard's pages read from, and which
# browser origins each API accepts.

locals {
  # "https://name-1a2b3c.herokuapp.com/" => "https://name-1a2b3c.herokuapp.com"
  origin = { for key, app in heroku_app.service : key => trimsuffix(app.web_url, "/") }

  service_config = {
    relay = {
      EDM_ALLOWED_ORIGINS = local.origin["ui"]
    }
    stream = {
      EDM_ALLOWED_ORIGINS = local.origin["dashboard"]
    }
    stats = {
      EDM_ALLOWED_ORIGINS = local.origin["dashboard"]
    }
    ui = {
      EDM_RELAY_URL = local.origin["relay"]
    }
    dashboard = {
      EDM_STREAM_URL = local.origin["stream"]
      EDM_STATS_URL  = local.origin["stats"]
    }
  }
}

resource "heroku_app_config_association" "service" {
  for_each = local.services

  app_id = heroku_app.service[each.key].id
  vars   = local.service_config[each.key]
}
