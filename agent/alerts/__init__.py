"""Alerts: born from state changes, escalated by policy, acknowledged or resolved by people."""

from agent.alerts.book import AlertBook

__all__ = ["AlertBook"]
