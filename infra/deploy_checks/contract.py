"""What every deployment of EDM must provide: the five services, their ports,
what each needs, the topics and consumer groups, and the configuration
variables the services read (see shared/spec/product.md)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Service:
    """One deployed service (one Heroku app, one compose service)."""

    binary: str  # workspace binary = crate name
    key: str  # short name: compose service and Terraform key
    port: int  # local port (PORT default)
    kafka: bool = False  # needs KAFKA_URL and friends
    consumer_group: str | None = None  # logical consumer group (default)
    database: bool = False  # needs DATABASE_URL
    # Browser-facing URL variables => the binary they must point at.
    calls: dict[str, str] = field(default_factory=dict)
    # The binary whose browser origin must be in EDM_ALLOWED_ORIGINS.
    allows_origin_of: str | None = None


SERVICES = (
    Service("edm-relay", "relay", 5000, kafka=True, allows_origin_of="edm-ui"),
    Service("edm-stream", "stream", 5001, kafka=True,
            consumer_group="edm-consumer-group-1", allows_origin_of="edm-dashboard"),
    Service("edm-stats", "stats", 5002, kafka=True, consumer_group="edm-consumer-group-2",
            database=True, allows_origin_of="edm-dashboard"),
    Service("edm-ui", "ui", 3000, calls={"EDM_RELAY_URL": "edm-relay"}),
    Service("edm-dashboard", "dashboard", 3001,
            calls={"EDM_STREAM_URL": "edm-stream", "EDM_STATS_URL": "edm-stats"}),
)
BY_BINARY = {s.binary: s for s in SERVICES}
BY_KEY = {s.key: s for s in SERVICES}

TOPICS = ("edm-ui-click", "edm-ui-pageload")
CONSUMER_GROUPS = tuple(s.consumer_group for s in SERVICES if s.consumer_group)

# Workspace crates that are never deployed.
# Workspace crates that are tools, not services: nothing deploys them.
NOT_DEPLOYED = {"edm-testkit", "edm-bench", "edm-example-consumer", "edm-reliability"}

# Variables the services read (product.md); the scan of crates/ adds more.
CONFIG_VARIABLES = {
    "PORT", "KAFKA_URL", "KAFKA_TRUSTED_CERT", "KAFKA_CLIENT_CERT", "KAFKA_CLIENT_CERT_KEY",
    "KAFKA_PREFIX", "KAFKA_TOPIC", "KAFKA_CONSUMER_GROUP", "DATABASE_URL",
    "EDM_RELAY_URL", "EDM_STREAM_URL", "EDM_STATS_URL", "EDM_ALLOWED_ORIGINS",
    "RUST_LOG", "RUST_BACKTRACE",
}
KAFKA_TLS_VARIABLES = ("KAFKA_TRUSTED_CERT", "KAFKA_CLIENT_CERT", "KAFKA_CLIENT_CERT_KEY")
