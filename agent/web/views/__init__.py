"""The console's sections, one module each with a `router` (agent.web.console.install finds them)."""
