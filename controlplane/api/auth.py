"""The credential check the SDKs call before storing credentials: `GET /api/v1/auth/` (python-tutum
`tutum.auth.verify_credential`) and `GET /auth/` at the host root (python-dockercloud
`dockercloud.auth.verify_credential`), both with `Basic user:secret` (docs/api.md §2.2).

The old services took the account password here; this control plane has API keys only, so the
secret is an API key, exactly as on every other endpoint. 401 for bad credentials (the SDKs' auth
error), otherwise 200 with the seed-era envelope whose first object names the user. The old
answer also carried the account's API key (python-tutum <= 0.16 read it from `objects[0].key`);
keys are stored only as digests, so there is none to hand out.
"""

from __future__ import annotations

from typing import Any

from flask import request

from controlplane.api.base import UserResource, current_user
from controlplane.api.serializers import page_to_json

AUTH_PATHS = ("/api/v1/auth/", "/auth/")


class AuthResource(UserResource):
    def get(self) -> dict[str, Any]:
        user = {"username": current_user().username}
        return page_to_json([user], path=request.path, query={}, limit=1, offset=0, total=1)
