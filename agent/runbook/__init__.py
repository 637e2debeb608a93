"""The runbook engine: YAML runbooks validated before anything runs, executed as a graph, journalled."""
