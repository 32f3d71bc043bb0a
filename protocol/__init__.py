"""The wire contract between central and the store agents: topics, envelopes, encoding.

No I/O lives here; both sides import it. See docs/protocol.md for the prose contract.
"""

PROTOCOL_VERSION = 1
"""Version carried by every message. Readers accept this version and the one before it."""

OLDEST_SUPPORTED_VERSION = 1
