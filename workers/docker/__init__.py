"""The agent's Docker package: the only code that imports docker-py (ruff's banned-api rule and
an import-linter contract check it). `driver` carries out the operations; `options` maps a spec
onto docker-py's arguments, `observe` reads what Docker says, `host` the node's facts,
`transport` keeps the Engine socket's connections alive, and `errors` turns docker-py's failures
into the agent's."""
