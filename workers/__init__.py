"""The node agent: drives one Docker Engine for the control plane and reports what it sees.

It imports only the stdlib-only parts of `controlplane` (state machine, messages, broker
settings) and has no database credentials; import-linter enforces both.
"""
