"""Step kinds of the runbook engine, one module each (registered in pyproject.toml)."""
