"""Dangerous container options: which definitions use them and what the operator allows."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.core.errors import DangerousOptionForbiddenError
from controlplane.core.policy import (
    DANGEROUS_OPTIONS,
    check_allowed,
    dangerous_options,
    parse_allowed,
)

# (option, a definition that uses it, the field a refusal names)
USES: list[tuple[str, dict[str, Any], str]] = [
    ("privileged", {"privileged": True}, "privileged"),
    ("net_host", {"net": "host"}, "net"),
    ("pid_host", {"pid": "host"}, "pid"),
    ("devices", {"devices": ["/dev/zero"]}, "devices"),
    ("cap_add", {"cap_add": ["NET_ADMIN"]}, "cap_add"),
    (
        "host_bindings",
        {"bindings": [{"container_path": "/data"}, {"host_path": "/etc", "container_path": "/x"}]},
        "bindings",
    ),
    ("security_opt", {"security_opt": ["no-new-privileges", "seccomp=unconfined"]}, "security_opt"),
]


@pytest.mark.parametrize(
    "option", ["no-new-privileges=false", "no-new-privileges:0", "no-new-privileges=F"]
)
def test_switching_no_new_privileges_off_is_dangerous(option: str) -> None:
    """It overrides a daemon-wide no-new-privileges, so it weakens confinement too."""
    assert dangerous_options({**SAFE, "security_opt": [option]}) == ["security_opt"]


def test_switching_no_new_privileges_on_in_any_go_spelling_is_safe() -> None:
    options = ["no-new-privileges", "no-new-privileges=true", "no-new-privileges=1"]
    assert dangerous_options({"security_opt": options}) == []


SAFE: dict[str, Any] = {
    "privileged": False,
    "net": "bridge",
    "pid": "none",
    "devices": [],
    "cap_add": [],
    "cap_drop": ["ALL"],
    "bindings": [{"host_path": None, "container_path": "/data", "volume": "data"}],
    "security_opt": ["no-new-privileges", "no-new-privileges:true"],
}


def test_the_table_covers_every_use() -> None:
    assert [option for option, _, _ in USES] == list(DANGEROUS_OPTIONS)


@pytest.mark.parametrize(("option", "definition", "field"), USES, ids=[u[0] for u in USES])
def test_a_dangerous_use_is_recognised(option: str, definition: dict[str, Any], field: str) -> None:
    assert dangerous_options({**SAFE, **definition}) == [option]


@pytest.mark.parametrize("definition", [SAFE, {}, {"net": "none"}], ids=["safe", "empty", "none"])
def test_a_definition_without_dangerous_options_uses_none(definition: dict[str, Any]) -> None:
    assert dangerous_options(definition) == []
    check_allowed(definition, frozenset())


@pytest.mark.parametrize(("option", "definition", "field"), USES, ids=[u[0] for u in USES])
def test_a_dangerous_use_is_refused_naming_its_field_and_the_setting(
    option: str, definition: dict[str, Any], field: str
) -> None:
    with pytest.raises(DangerousOptionForbiddenError) as refused:
        check_allowed(definition, frozenset(DANGEROUS_OPTIONS) - {option})
    assert refused.value.field == field
    assert f"CONTROLPLANE_ALLOW_DANGEROUS={option}" in refused.value.message
    assert refused.value.code == "dangerous-option-forbidden-error"


@pytest.mark.parametrize(("option", "definition", "field"), USES, ids=[u[0] for u in USES])
def test_an_allowed_dangerous_use_passes(
    option: str, definition: dict[str, Any], field: str
) -> None:
    check_allowed(definition, frozenset({option}))


def test_every_option_must_be_allowed_not_just_one() -> None:
    with pytest.raises(DangerousOptionForbiddenError) as refused:
        check_allowed({"privileged": True, "net": "host"}, frozenset({"privileged"}))
    assert refused.value.field == "net"


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("", frozenset()),
        (" , ", frozenset()),
        ("privileged", frozenset({"privileged"})),
        (" Privileged , NET_HOST,", frozenset({"privileged", "net_host"})),
        ("all", frozenset(DANGEROUS_OPTIONS)),
        ("ALL,privileged", frozenset(DANGEROUS_OPTIONS)),
    ],
)
def test_the_setting_lists_options_or_all(text: str, allowed: frozenset[str]) -> None:
    assert parse_allowed(text) == allowed


@pytest.mark.parametrize("text", ["root", "privileged,hostnet", "net-host"])
def test_an_unknown_option_in_the_setting_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="unknown option"):
        parse_allowed(text)
