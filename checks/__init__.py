"""Probe plugins: one module (or folder) per protocol, registered as `oti_agent.checks` entry points."""
