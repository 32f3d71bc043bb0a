"""Services: one module per capability; each takes a session and returns plain results."""
