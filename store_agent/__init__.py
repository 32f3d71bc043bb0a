"""The store agent: local SQLite copy, change applier, outbox uplink and the till's API."""

__version__ = "0.1.0"
