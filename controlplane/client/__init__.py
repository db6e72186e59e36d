"""The user's client: the `controlplane container|service|stack|node ls|action|events`
commands, speaking only the REST API and its websocket streams, as any other client does.

It imports nothing of the server (an import-linter contract says so): a user's machine needs the
package, never the database, the broker or the server's settings.
"""
