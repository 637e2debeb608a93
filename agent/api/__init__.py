"""The daemon's HTTP API (/api/v1), its authentication (sessions, tokens, the local socket's OS user) and
authorisation by role; `/metrics` and the web pages are served by the same server."""
