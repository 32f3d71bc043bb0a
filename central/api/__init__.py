"""REST API under /api/v1 (flask-smorest): parse, call one service, render."""
