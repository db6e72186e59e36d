"""controlplane: a self-hosted container control plane speaking the Tutum container API.

Importing the package has no side effects; the app, the workers and the CLI are built on demand.
"""

__version__ = "0.1.0"
