"""Metrics (Prometheus), dashboard statistics, structured logs and health probes."""
