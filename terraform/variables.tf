# Inputs of the Heroku deployment: names, region, plans, dynos and the source
# tarball every app is built from. See docs/deploy.md for how to fill them in.

variable "name_prefix" {
  description = "Prefix of the five Heroku app names (<prefix>-relay, <prefix>-dashboard, ...). App names are global on Heroku, so pick something unique."
  type        = string

  validation {
    # Heroku app names: 3-30 characters; "-dashboard" is the longest suffix.
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name_prefix))
    error_message = "name_prefix must start with a lowercase letter, use only a-z, 0-9 and '-', and be at most 20 characters."
  }
}

variable "region" {
  description = "Heroku Common Runtime region of every app and add-on: us or eu."
  type        = string
  default     = "us"
}

variable "stack" {
  description = "Heroku stack of the apps."
  type        = string
  default     = "heroku-24"
}

variable "team" {
  description = "Heroku team that owns the apps, or null for your personal account."
  type        = string
  default     = null
}

variable "buildpack" {
  description = "Buildpack that compiles each app's binary (reads RustConfig and rust-toolchain): emk/rust pinned to the commit whose bin/compile RustConfig was written for (it reads RUST_CARGO_BUILD_FLAGS and sources RustConfig where ENV_DIR is set). The registry name emk/rust may serve another copy."
  type        = string
  default     = "https://github.com/emk/heroku-buildpack-rust.git#cfa0f0621411f0dbb46df9d4740e119b7a459ccc"
}

variable "source_url" {
  description = "HTTPS URL of a .tar.gz of the whole repository (every app is built from it), e.g. a GitHub archive URL of a tag or commit."
  type        = string

  validation {
    condition     = startswith(var.source_url, "https://")
    error_message = "source_url must be an https:// URL of a tarball."
  }
}

variable "source_checksum" {
  description = "Optional checksum of the tarball as SHA256:<hex>; Heroku refuses a tarball that does not match."
  type        = string
  default     = null

  validation {
    condition     = var.source_checksum == null || can(regex("^SHA256:[0-9a-f]{64}$", var.source_checksum))
    error_message = "source_checksum must look like SHA256:<64 lowercase hex digits>."
  }
}

variable "source_version" {
  description = "Optional label of the source version (a git tag or commit) shown in the apps' release history."
  type        = string
  default     = null
}

variable "kafka_plan" {
  description = "Apache Kafka on Heroku plan: heroku-kafka:basic-0/1/2 (multi-tenant, topics and groups prefixed) or a dedicated standard-*/extended-* plan."
  type        = string
  default     = "heroku-kafka:basic-0"
}

variable "trending_processing_guarantee" {
  description = "edm-trending's EDM_TRENDING_PROCESSING_GUARANTEE: exactly_once (Kafka transactions; needs rights on transactional ids, which Heroku documents for dedicated plans) or at_least_once (no transactions; a result repeated after a crash replaces the earlier one). Unset: at_least_once on a basic Kafka plan, exactly_once on a dedicated one."
  type        = string
  default     = null

  validation {
    condition     = var.trending_processing_guarantee == null || contains(["exactly_once", "at_least_once"], coalesce(var.trending_processing_guarantee, "none"))
    error_message = "trending_processing_guarantee is exactly_once or at_least_once."
  }
}

variable "addon_create_timeout" {
  description = "Minutes an apply waits for an add-on to be provisioned before it fails. Unset: 20 (the provider's default) with a basic Kafka plan, 60 with a dedicated one, whose cluster is built for the app. At least 10."
  type        = number
  default     = null

  validation {
    condition     = var.addon_create_timeout == null || try(var.addon_create_timeout >= 10, false)
    error_message = "addon_create_timeout is in minutes and the provider requires at least 10."
  }
}

variable "kafka_topic_partitions" {
  description = "Partitions of each EDM topic when it is created (basic plans cap the total per add-on)."
  type        = number
  default     = 8
}

variable "postgres_plan" {
  description = "Heroku Postgres plan of the edm-stats app."
  type        = string
  default     = "heroku-postgresql:essential-0"
}

variable "dyno_size" {
  description = "Dyno size of every web process unless overridden in dynos (basic, standard-1x, standard-2x, performance-m, ...)."
  type        = string
  default     = "basic"
}

variable "dyno_quantity" {
  description = "Web dynos per app unless overridden in dynos. Basic dynos cannot scale past 1."
  type        = number
  default     = 1
}

variable "dynos" {
  description = "Per-service overrides keyed by the service keys of topology.json, e.g. { stream = { size = \"standard-1x\", quantity = 2 } }."
  type = map(object({
    size     = optional(string)
    quantity = optional(number)
  }))
  default = {}
}
