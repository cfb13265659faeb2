"""The rules edm-config applies to Kafka configuration values, restated so
the checks can judge a compose file's environment without running a service."""

import re

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
