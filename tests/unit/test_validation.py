"""The create body validation: every refusal names its field, every accepted body is normalised."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.errors import InvalidInputError
from controlplane.validation import default_name, validate_create

DIGEST = "sha256:" + "a" * 64


def body(**fields: Any) -> dict[str, Any]:
    return {"image_name": "busybox", **fields}


# (case id, request body, field the error must name)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("image missing", {}, "image_name"),
    ("image missing with other fields", {"name": "web"}, "image_name"),
    ("image empty", body(image_name=""), "image_name"),
    ("image not a string", body(image_name=5), "image_name"),
    ("image null", body(image_name=None), "image_name"),
    ("image with space", body(image_name="a b"), "image_name"),
    ("image with empty tag", body(image_name="foo:"), "image_name"),
    ("image with tag only", body(image_name=":tag"), "image_name"),
    ("image starting with dash", body(image_name="-bad"), "image_name"),
    ("image uppercase repository", body(image_name="Upper"), "image_name"),
    ("image uppercase path part", body(image_name="library/UPPER"), "image_name"),
    ("image short digest", body(image_name="busybox@sha256:abc"), "image_name"),
    ("name not a string", body(name=5), "name"),
    ("name of 256 characters", body(name="a" * 256), "name"),
    ("name empty", body(name=""), "name"),
    ("name with slash", body(name="a/b"), "name"),
    ("name with space", body(name="a b"), "name"),
    ("name starting with dash", body(name="-web"), "name"),
    ("name with NUL", body(name="web\x00"), "name"),
    ("memory negative", body(memory=-1), "memory"),
    ("memory as string", body(memory="512"), "memory"),
    ("memory as boolean", body(memory=True), "memory"),
    ("memory below Docker's floor", body(memory=5), "memory"),
    ("memory as float", body(memory=512.0), "memory"),
    ("memory above int32", body(memory=2**31), "memory"),
    ("cpu_shares below range", body(cpu_shares=1), "cpu_shares"),
    ("cpu_shares above range", body(cpu_shares=300000), "cpu_shares"),
    ("cpu_shares as string", body(cpu_shares="1024"), "cpu_shares"),
    ("envvars not a list", body(container_envvars={"A": "1"}), "container_envvars"),
    ("envvar item not an object", body(container_envvars=["A=1"]), "container_envvars[0]"),
    ("envvar missing value", body(container_envvars=[{"key": "A"}]), "container_envvars[0]"),
    (
        "envvar extra key",
        body(container_envvars=[{"key": "A", "value": "1", "x": "y"}]),
        "container_envvars[0]",
    ),
    (
        "envvar key starting with digit",
        body(container_envvars=[{"key": "1BAD", "value": "1"}]),
        "container_envvars[0]",
    ),
    (
        "envvar key with dash",
        body(container_envvars=[{"key": "A-B", "value": "1"}]),
        "container_envvars[0]",
    ),
    (
        "envvar key not a string",
        body(container_envvars=[{"key": 1, "value": "1"}]),
        "container_envvars[0]",
    ),
    (
        "envvar value not a string",
        body(container_envvars=[{"key": "A", "value": 1}]),
        "container_envvars[0]",
    ),
    (
        "envvar key repeated",
        body(container_envvars=[{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]),
        "container_envvars[1]",
    ),
    ("autorestart unknown", body(autorestart="SOMETIMES"), "autorestart"),
    ("autorestart lowercase", body(autorestart="always"), "autorestart"),
    ("labels not an object", body(labels=["a=b"]), "labels"),
    ("label value not a string", body(labels={"a": 1}), "labels"),
    ("label key empty", body(labels={"": "x"}), "labels"),
    ("label reserved prefix", body(labels={"io.controlplane.container_uuid": "x"}), "labels"),
    ("label reserved prefix, other key", body(labels={"io.controlplane.x": "y"}), "labels"),
    ("working_dir relative", body(working_dir="srv/app"), "working_dir"),
    ("working_dir not a string", body(working_dir=["/srv"]), "working_dir"),
    ("run_command unbalanced quote", body(run_command='sh -c "echo hi'), "run_command"),
    ("run_command not a string", body(run_command=["sh", "-c"]), "run_command"),
    ("entrypoint unbalanced quote", body(entrypoint="sh -c 'x"), "entrypoint"),
    ("unknown field", body(memroy=512), "memroy"),
]


@pytest.mark.parametrize(("data", "field"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_create_body_is_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        validate_create(data)
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{field}: ")


def test_unknown_fields_are_refused_before_anything_else_is_checked() -> None:
    with pytest.raises(InvalidInputError) as refused:
        validate_create({"memroy": 512, "image_name": ""})
    assert refused.value.field == "memroy"


@pytest.mark.parametrize(
    ("image", "stored"),
    [
        ("busybox", "busybox:latest"),
        ("library/busybox", "library/busybox:latest"),
        ("registry.example.com/team/app", "registry.example.com/team/app:latest"),
        ("localhost:5000/x/y", "localhost:5000/x/y:latest"),
        ("my_app.v2", "my_app.v2:latest"),
    ],
)
def test_an_untagged_image_gets_the_latest_tag(image: str, stored: str) -> None:
    assert validate_create({"image_name": image})["image_name"] == stored


@pytest.mark.parametrize(
    "image",
    [
        "busybox:1.36",
        "busybox:1.36-musl",
        "busybox:Latest_2",
        f"busybox@{DIGEST}",
        f"busybox:1.36@{DIGEST}",
        "localhost:5000/x/y:1",
        "registry.example.com:443/team/app:v1",
    ],
)
def test_a_tag_or_digest_is_kept_as_given(image: str) -> None:
    assert validate_create({"image_name": image})["image_name"] == image


def test_an_uppercase_first_component_is_a_registry_host_as_docker_reads_it() -> None:
    # Docker's splitDockerDomain treats a first component with capitals as a registry host, so
    # "UPPER/case" names repository "case" on registry "UPPER" rather than being malformed.
    assert validate_create({"image_name": "UPPER/case"})["image_name"] == "UPPER/case:latest"


def test_a_full_body_becomes_column_values() -> None:
    envvars = [{"key": "A", "value": "1"}, {"key": "_B2", "value": ""}]
    values = validate_create(
        {
            "image_name": "busybox:1.36",
            "name": "web.1_a-b",
            "run_command": "sh -c 'sleep 60'",
            "entrypoint": "/bin/sh -c",
            "working_dir": "/srv",
            "container_envvars": envvars,
            "labels": {"team": "core", "io.other.x": "y"},
            "memory": 512,
            "cpu_shares": 1024,
            "autorestart": "ON_FAILURE",
        }
    )
    assert values == {
        "image_name": "busybox:1.36",
        "name": "web.1_a-b",
        "run_command": "sh -c 'sleep 60'",
        "entrypoint": "/bin/sh -c",
        "working_dir": "/srv",
        "container_envvars": envvars,
        "labels": {"team": "core", "io.other.x": "y"},
        "memory": 512,
        "cpu_shares": 1024,
        "autorestart": "ON_FAILURE",
    }


def test_a_minimal_body_takes_its_name_from_the_image() -> None:
    assert validate_create({"image_name": "busybox"}) == {
        "image_name": "busybox:latest",
        "name": "busybox",
    }


def test_a_null_name_is_replaced_by_the_default_name() -> None:
    assert validate_create(body(name=None))["name"] == "busybox"


def test_null_optional_fields_become_their_empty_values() -> None:
    values = validate_create(
        body(run_command=None, entrypoint=None, working_dir=None, memory=None, cpu_shares=None)
    )
    assert values["run_command"] is None
    assert values["entrypoint"] == ""
    assert values["working_dir"] == ""
    assert values["memory"] is None
    assert values["cpu_shares"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "a" * 255),
        ("name", "9lives"),
        ("memory", 6),
        ("memory", 2**31 - 1),
        ("cpu_shares", 2),
        ("cpu_shares", 262144),
        ("autorestart", "OFF"),
        ("autorestart", "ALWAYS"),
        ("container_envvars", []),
        ("labels", {}),
    ],
)
def test_values_at_the_edges_of_their_range_are_accepted(field: str, value: Any) -> None:
    assert validate_create(body(**{field: value}))[field] == value


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("busybox:latest", "busybox"),
        ("library/redis:7", "redis"),
        ("localhost:5000/x/y:1", "y"),
        (f"team/my_app@{DIGEST}", "my_app"),
        ("registry.example.com/a/b.c-d", "b.c-d"),
    ],
)
def test_the_default_name_is_the_last_part_of_the_repository(image: str, name: str) -> None:
    assert default_name(image) == name


def test_the_default_name_never_starts_with_punctuation_and_is_never_empty() -> None:
    assert default_name("___") == "container"
    assert default_name("x/__app:1") == "app-1"
