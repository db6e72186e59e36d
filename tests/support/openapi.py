"""Checking an answer of the API against its OpenAPI document (`GET /api/openapi.json`).

`validate_answer` is what tests/unit/test_openapi.py checks real answers with, and what a fuzzer
that drives a live plane from the document can import: it raises AssertionError for a status the
document does not give the operation, and jsonschema's ValidationError for a body that does not
match the schema of that status. Pure (jsonschema only), unlike the rest of tests/support, so a
unit run may import it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# Where the document is registered, for `$ref`s into it from the schemas that are validated.
DOCUMENT_URI = "urn:controlplane:openapi"


def validate_answer(
    document: dict[str, Any], method: str, path_template: str | None, status: int, body: Any
) -> None:
    """Check one answer: `status` is documented for `method` on `path_template` (None for a
    path the API does not serve) and `body` (the decoded JSON, None for no body) matches the
    schema documented for that status.

    A path or method that is not served has the answers of the document's `x-unserved`; any
    request may have one of `x-server`, the HTTP server's own refusals.

    Raises:
        AssertionError: the status is not documented, or a body is missing or unexpected.
        jsonschema.ValidationError: the body does not match the documented schema.
    """
    if _from_server(document, status, body):
        return
    pointer, answer = _documented_answer(document, method.lower(), path_template, status)
    content = answer.get("content", {}).get("application/json")
    if content is None:
        assert body is None, f"{pointer} documents no JSON body, got {body!r}"
        return
    assert body is not None, f"{pointer} documents a JSON body, got none"
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    schema_uri = f"{DOCUMENT_URI}#{quote(pointer + '/content/application~1json/schema')}"
    Draft202012Validator({"$ref": schema_uri}, registry=registry).validate(body)


def documents_text(
    document: dict[str, Any], method: str, path_template: str | None, status: int, media: str
) -> bool:
    """Whether the answer documented for `status` is text of the media type `media` (a
    Content-Type header: `/metrics` is Prometheus' text format, not JSON). An undocumented
    status is none: `validate_answer` tells it."""
    try:
        _, answer = _documented_answer(document, method.lower(), path_template, status)
    except AssertionError:
        return False
    return any(
        kind != "application/json" and media.startswith(kind.split(";")[0])
        for kind in answer.get("content", {})
    )


def _from_server(document: dict[str, Any], status: int, body: Any) -> bool:
    """Whether the answer is one of the HTTP server's own (`x-server`): that status, with the
    code the server gives it."""
    answer = document.get("x-server", {}).get(str(status))
    if answer is None or not isinstance(body, dict):
        return False
    codes = answer["content"]["application/json"]["schema"]["properties"]["code"]["enum"]
    return body.get("code") in codes and isinstance(body.get("error"), str)


def _documented_answer(
    document: dict[str, Any], method: str, path_template: str | None, status: int
) -> tuple[str, dict[str, Any]]:
    """(JSON pointer, Response Object) of the answer documented for `status`, `$ref`s followed."""
    path_item = document["paths"].get(path_template) if path_template is not None else None
    if path_item is None:
        unserved: tuple[str, int] = ("path", 404)
    elif method not in path_item:
        unserved = ("method", 405)
    else:
        pointer = f"/paths/{_escape(path_template or '')}/{method}/responses/{status}"
        responses = path_item[method]["responses"]
        assert str(status) in responses, (
            f"{method.upper()} {path_template} answered {status}, documented: {sorted(responses)}"
        )
        return _follow(document, pointer, responses[str(status)])
    kind, expected = unserved
    assert status == expected, f"an unserved {kind} answered {status}, documented: {expected}"
    return _follow(document, f"/x-unserved/{kind}", document["x-unserved"][kind])


def _follow(
    document: dict[str, Any], pointer: str, answer: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    while "$ref" in answer:
        pointer = answer["$ref"].removeprefix("#")
        answer = resolve(document, pointer)
    return pointer, answer


def resolve(document: dict[str, Any], pointer: str) -> Any:
    """What a JSON pointer (`/components/schemas/Container`) names in `document`."""
    target: Any = document
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        target = target[int(token)] if isinstance(target, list) else target[token]
    return target


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
