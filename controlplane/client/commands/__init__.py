"""The client's click commands, one module per kind of object (docs/cli.md)."""
