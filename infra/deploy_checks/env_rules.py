"""The rules edm-config applies to configuration values, restated so the
checks can judge a compose file's environment without running a service."""

import re
from urllib.parse import urlsplit

KAFKA_NAME = re.compile(r"^[A-Za-z0-9._-]{0,200}$")


def kafka_brokers(url: str) -> tuple[list[tuple[str, int]], bool]:
    """Parses KAFKA_URL into (host, port) pairs and whether TLS is used.
    Raises ValueError naming what is wrong."""
    brokers, schemes = [], set()
    for entry in (e.strip() for e in url.split(",")):
        if not entry:
            continue
        scheme, sep, rest = entry.partition("://")
        if not sep:
            scheme, rest = "", entry
        if scheme not in ("", "kafka", "kafka+ssl"):
            raise ValueError(f"unknown scheme '{scheme}://' (expected kafka+ssl://, kafka:// or none)")
        host, sep, port = rest.rstrip("/").rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"'{entry}' is not host:port")
        brokers.append((host, int(port)))
        schemes.add(scheme == "kafka+ssl")
    if not brokers:
        raise ValueError("names no broker")
    if len(schemes) > 1:
        raise ValueError("mixes TLS and plaintext brokers")
    return brokers, schemes.pop()


def origins(value: str) -> list[str]:
    """EDM_ALLOWED_ORIGINS entries without trailing slashes (or ['*'])."""
    if value.strip() == "*":
        return ["*"]
    result = []
    for entry in (e.strip().rstrip("/") for e in value.split(",")):
        if not entry:
            continue
        parts = urlsplit(entry)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ValueError(f"'{entry}' is not an origin (http(s)://host[:port])")
        result.append(entry)
    return result


def port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise ValueError(f"'{value}' is not a port number")
    return int(value)


def http_url(value: str) -> tuple[str, int]:
    """(host, port) of an http(s) service URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{value}' is not an http(s) URL")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
