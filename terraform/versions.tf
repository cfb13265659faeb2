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

provider "heroku" {}
