# Terraform and provider versions for deploying EDM to Heroku.
# The Heroku provider reads HEROKU_API_KEY (and HEROKU_EMAIL) from the environment.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    heroku = {
      source  = "heroku/heroku"
      version = "~> 5.2"
    }
  }
}

provider "heroku" {
  # How long an apply waits for an add-on to be provisioned (minutes; the
  # provider's default is 20, its minimum 10). Dedicated Kafka plans build a
  # cluster of their own and may take longer: see addon_create_timeout.
  timeouts {
    addon_create_timeout = local.addon_create_timeout
  }
}
