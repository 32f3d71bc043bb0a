"""The fleet benchmark: real broker, real central processes on PostgreSQL, real agent code.

``python -m bench`` (``make bench``) measures sale ingest, price fan-out, bootstrap,
catch-up, agent memory and idle CPU, and the raw QoS 1 limit of the same broker, then
writes ``bench/results/latest.{json,md,png}``. Targets are reported, never asserted.
"""
