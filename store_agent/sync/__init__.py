"""The agent's link with central: the local copy (replica), its sync, the outbox and its uplink."""
