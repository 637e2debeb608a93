"""Exporters: the Prometheus collector and the Grafana dashboard."""
