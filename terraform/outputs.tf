# What to open after `terraform apply`, and the names to use with the Heroku CLI.

output "store_url" {
  description = "The mock coffee store (edm-ui)."
  value       = heroku_app.service["ui"].web_url
}

output "dashboard_url" {
  description = "The live and historical dashboard (edm-dashboard)."
  value       = heroku_app.service["dashboard"].web_url
}

output "app_names" {
  description = "Heroku app name of each service."
  value       = { for key, app in heroku_app.service : key => app.name }
}

output "kafka_app" {
  description = "The app that owns the Kafka add-on: use it with heroku kafka:* commands."
  value       = heroku_app.service[local.kafka_host_service].name
}
