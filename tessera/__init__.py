"""The ``tessera`` command: one entry point for central, the agents and the demo."""
