"""The two URL trees served from one store: Tutum (`/api/v1/...`) and Docker Cloud
(`/api/app/v1/[ns/]...`, `/api/audit/v1/...`, `/api/infra/v1/[ns/]...`).

Every resource URI in a response is in the tree the request came in on, because the Docker
Cloud SDK calls the `resource_uri` it was given verbatim (docs/api.md §1.2). Resource-URI inputs
(filters such as `node=`) are matched by the uuid they end in, so either form works anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tree:
    name: str
    action_header: str
    # kind -> collection path; "{ns}" is the namespace plus a slash, or nothing.
    collections: dict[str, str]


TUTUM = Tree(
    name="tutum",
    action_header="X-Tutum-Action-URI",
    collections={
        "container": "/api/v1/container/",
        "service": "/api/v1/service/",
        "stack": "/api/v1/stack/",
        "action": "/api/v1/action/",
        "node": "/api/v1/node/",
    },
)
DOCKERCLOUD = Tree(
    name="dockercloud",
    action_header="X-DockerCloud-Action-URI",
    collections={
        "container": "/api/app/v1/{ns}container/",
        "service": "/api/app/v1/{ns}service/",
        "stack": "/api/app/v1/{ns}stack/",
        "action": "/api/audit/v1/action/",
        "node": "/api/infra/v1/{ns}node/",
    },
)


# The stream paths outside the REST trees (docs/api.md §1.3): Tutum's stream tree under /v1/, and
# Docker Cloud's events. The container log and exec streams also answer on each REST tree's
# container paths (`.../container/<uuid>/logs/`, `.../container/<uuid>/exec/`).
TUTUM_LOGS_STREAM = "/v1/container/<uuid>/logs/"
TUTUM_SERVICE_LOGS_STREAM = "/v1/service/<uuid>/logs/"
TUTUM_EXEC_STREAM = "/v1/container/<uuid>/exec/"
TUTUM_EVENTS_STREAM = "/v1/events/"
DOCKERCLOUD_EVENTS_STREAMS = ("/api/audit/v1/events/", "/api/audit/v1/<namespace>/events/")


@dataclass(frozen=True)
class Links:
    """Builds resource URIs in one tree, for one namespace (None: the caller's own, implied)."""

    tree: Tree
    namespace: str | None = None

    def uri(self, kind: str, uuid: str) -> str:
        return self.collection(kind) + f"{uuid}/"

    def action_header(self, action_uuid: str) -> dict[str, str]:
        """The header naming an accepted request's Action, in this tree's spelling (§4.2)."""
        return {self.tree.action_header: self.uri("action", action_uuid)}

    def collection(self, kind: str) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return self.tree.collections[kind].format(ns=ns)


def route_rules(kind: str, suffix: str = "") -> list[str]:
    """Every URL rule under which a resource of `kind` answers, in both trees.

    Docker Cloud paths exist with and without the `<namespace>/` segment; the namespace form is
    offered even for actions (whose REST paths the SDK never namespaces), since a client may
    build it from the documentation.
    """
    rules = [TUTUM.collections[kind] + suffix]
    dockercloud = DOCKERCLOUD.collections[kind]
    rules.append(dockercloud.format(ns="") + suffix)
    if "{ns}" in dockercloud:
        rules.append(dockercloud.format(ns="<namespace>/") + suffix)
    else:
        base, _, name = dockercloud.rstrip("/").rpartition("/")
        rules.append(f"{base}/<namespace>/{name}/{suffix}")
    return rules


def tree_of(path: str) -> Tree:
    """The tree of a request path; the Tutum stream tree (`/v1/...`) answers in Tutum URIs."""
    return TUTUM if path.startswith(("/api/v1/", "/v1/")) else DOCKERCLOUD
