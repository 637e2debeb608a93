"""The API's routes, one small module each; `ROUTERS` is what create_app includes (runs come later, through
its `extra_routers`)."""

from agent.api.routes import alerts, backups, devices, documents, health, session

ROUTERS = [health.router, session.router, devices.router, alerts.router, backups.router, documents.router]

__all__ = ["ROUTERS"]
