"""The create body validation: every refusal names its field, every accepted body is normalised."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.core.errors import InvalidInputError
from controlplane.core.scheduler import PlacementRequest
from controlplane.core.validation import default_name, take_placement, validate_create

DIGEST = "sha256:" + "a" * 64
NODE = "0b6e3f2a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


# A reference of exactly the column's 512 characters: the longest repo, tag, and a digest.
LONGEST_IMAGE = "a" * 255 + ":" + "t" * 128 + "@sha256:" + "0" * 120


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
    # memory_swap and the other resource limits
    ("memory_swap below the floor", body(memory=6, memory_swap=5), "memory_swap"),
    ("memory_swap below memory", body(memory=64, memory_swap=32), "memory_swap"),
    ("memory_swap without memory", body(memory_swap=128), "memory_swap"),
    ("memory_swap -2", body(memory=64, memory_swap=-2), "memory_swap"),
    ("memory_swap as boolean", body(memory=64, memory_swap=True), "memory_swap"),
    ("cpuset with letters", body(cpuset="a"), "cpuset"),
    ("cpuset range backwards", body(cpuset="3-1"), "cpuset"),
    ("cpuset trailing comma", body(cpuset="0,"), "cpuset"),
    ("cpuset not a string", body(cpuset=0), "cpuset"),
    # identity and naming
    ("user with space", body(user="a b"), "user"),
    ("user with two colons", body(user="a:b:c"), "user"),
    ("hostname starting with dash", body(hostname="-web"), "hostname"),
    ("hostname with underscore", body(hostname="web_1"), "hostname"),
    ("hostname over the kernel limit", body(hostname="a." * 32 + "b"), "hostname"),
    ("hostname label over 63", body(hostname="a" * 64), "hostname"),
    ("domainname with empty label", body(domainname="example..org"), "domainname"),
    ("mac_address too short", body(mac_address="02:42:ac:11:ff"), "mac_address"),
    ("mac_address with dashes", body(mac_address="02-42-ac-11-ff-ee"), "mac_address"),
    ("mac_address multicast", body(mac_address="01:42:ac:11:ff:ee"), "mac_address"),
    (
        "mac_address outside the bridge",
        body(net="none", mac_address="02:42:ac:11:ff:ee"),
        "mac_address",
    ),
    # flags
    ("tty as string", body(tty="yes"), "tty"),
    ("stdin_open as integer", body(stdin_open=1), "stdin_open"),
    ("read_only as string", body(read_only="true"), "read_only"),
    ("privileged as integer", body(privileged=1), "privileged"),
    # name resolution
    ("dns not a list", body(dns="10.0.0.2"), "dns"),
    ("dns not an address", body(dns=["resolver.local"]), "dns[0]"),
    ("dns item not a string", body(dns=["10.0.0.2", 10]), "dns[1]"),
    ("dns_search bad domain", body(dns_search=["exa mple.org"]), "dns_search[0]"),
    ("extra_hosts without address", body(extra_hosts=["db"]), "extra_hosts[0]"),
    ("extra_hosts bad address", body(extra_hosts=["db:10.0.0"]), "extra_hosts[0]"),
    ("extra_hosts empty host", body(extra_hosts=[":10.0.0.5"]), "extra_hosts[0]"),
    # namespaces and privileges
    ("net unknown", body(net="container:web"), "net"),
    ("net uppercase", body(net="HOST"), "net"),
    ("pid unknown", body(pid="private"), "pid"),
    ("cap_add unknown", body(cap_add=["FLY"]), "cap_add[0]"),
    ("cap_add with space", body(cap_add=["NET ADMIN"]), "cap_add[0]"),
    ("cap_drop not a list", body(cap_drop="ALL"), "cap_drop"),
    ("devices relative host path", body(devices=["dev/zero"]), "devices[0]"),
    ("devices relative container path", body(devices=["/dev/zero:zero"]), "devices[0]"),
    ("devices bad permissions", body(devices=["/dev/zero:/dev/z:rx"]), "devices[0]"),
    ("devices empty permissions", body(devices=["/dev/zero:/dev/z:"]), "devices[0]"),
    ("devices too many parts", body(devices=["/a:/b:r:x"]), "devices[0]"),
    ("security_opt unknown", body(security_opt=["bogus"]), "security_opt[0]"),
    ("security_opt unknown key", body(security_opt=["mode=x"]), "security_opt[0]"),
    ("security_opt without value", body(security_opt=["seccomp="]), "security_opt[0]"),
    (
        "no-new-privileges not a Go bool",
        body(security_opt=["no-new-privileges=yes"]),
        "security_opt[0]",
    ),
    ("security_opt bad label", body(security_opt=["label=bogus"]), "security_opt[0]"),
    ("systempaths not unconfined", body(security_opt=["systempaths=x"]), "security_opt[0]"),
    # ports
    ("ports not a list", body(container_ports={"inner_port": 80}), "container_ports"),
    ("port not an object", body(container_ports=[80]), "container_ports[0]"),
    ("port without inner_port", body(container_ports=[{"outer_port": 80}]), "container_ports[0]"),
    ("port inner_port null", body(container_ports=[{"inner_port": None}]), "container_ports[0]"),
    ("port inner_port zero", body(container_ports=[{"inner_port": 0}]), "container_ports[0]"),
    (
        "port inner_port too big",
        body(container_ports=[{"inner_port": 65536}]),
        "container_ports[0]",
    ),
    (
        "port inner_port not digits",
        body(container_ports=[{"inner_port": "80/tcp"}]),
        "container_ports[0]",
    ),
    ("port inner_port float", body(container_ports=[{"inner_port": 80.0}]), "container_ports[0]"),
    (
        "port outer_port zero",
        body(container_ports=[{"inner_port": 80, "outer_port": 0}]),
        "container_ports[0]",
    ),
    (
        "port protocol unknown",
        body(container_ports=[{"inner_port": 80, "protocol": "sctp"}]),
        "container_ports[0]",
    ),
    (
        "port published not a boolean",
        body(container_ports=[{"inner_port": 80, "published": "yes"}]),
        "container_ports[0]",
    ),
    (
        "port unpublished with an outer port",
        body(container_ports=[{"inner_port": 80, "outer_port": 8080, "published": False}]),
        "container_ports[0]",
    ),
    (
        "port with an unknown key",
        body(container_ports=[{"inner_port": 80, "endpoint_uri": "x"}]),
        "container_ports[0]",
    ),
    (
        "port listed twice",
        body(container_ports=[{"inner_port": 80}, {"inner_port": 80, "protocol": "tcp"}]),
        "container_ports[1]",
    ),
    (
        "outer port used twice",
        body(
            container_ports=[
                {"inner_port": 80, "outer_port": 8080},
                {"inner_port": 81, "outer_port": 8080},
            ]
        ),
        "container_ports[1]",
    ),
    (
        "ports with net host",
        body(net="host", container_ports=[{"inner_port": 80}]),
        "container_ports",
    ),
    (
        "unpublished ports with net none",
        body(net="none", container_ports=[{"inner_port": 80, "published": False}]),
        "container_ports",
    ),
    # bindings
    ("bindings not a list", body(bindings={"container_path": "/data"}), "bindings"),
    ("binding not an object", body(bindings=["/data"]), "bindings[0]"),
    ("binding without container_path", body(bindings=[{"volume": "data"}]), "bindings[0]"),
    ("binding relative container_path", body(bindings=[{"container_path": "data"}]), "bindings[0]"),
    ("binding onto /", body(bindings=[{"container_path": "/"}]), "bindings[0]"),
    (
        "binding relative host_path",
        body(bindings=[{"container_path": "/d", "host_path": "srv"}]),
        "bindings[0]",
    ),
    (
        "binding volume with slash",
        body(bindings=[{"container_path": "/d", "volume": "a/b"}]),
        "bindings[0]",
    ),
    (
        "binding volume of one character",
        body(bindings=[{"container_path": "/d", "volume": "a"}]),
        "bindings[0]",
    ),
    (
        "binding with host_path and volume",
        body(bindings=[{"container_path": "/d", "host_path": "/srv", "volume": "data"}]),
        "bindings[0]",
    ),
    (
        "binding rewritable not a boolean",
        body(bindings=[{"container_path": "/d", "rewritable": "no"}]),
        "bindings[0]",
    ),
    (
        "binding with an unknown key",
        body(bindings=[{"container_path": "/d", "readonly": True}]),
        "bindings[0]",
    ),
    (
        "container_path bound twice",
        body(bindings=[{"container_path": "/d"}, {"container_path": "/d", "volume": "x1"}]),
        "bindings[1]",
    ),
    ("autodestroy unknown", body(autodestroy="NEVER"), "autodestroy"),
    ("node not a string", body(node=5), "node"),
    ("node not a uuid", body(node="node-1"), "node"),
    ("node URI of another type", body(node=f"/api/v1/container/{NODE}/"), "node"),
    ("node URI with a bad uuid", body(node="/api/v1/node/abc/"), "node"),
    ("tags not a list", body(tags="ssd"), "tags"),
    ("tag not a string", body(tags=[5]), "tags[0]"),
    ("tag empty", body(tags=["ssd", ""]), "tags[1]"),
    ("tag with a space", body(tags=["fast disk"]), "tags[0]"),
    ("tag object with another key", body(tags=[{"label": "ssd"}]), "tags[0]"),
    # a trailing newline, which `$` would let through (so every pattern is matched whole)
    ("name with a newline", body(name="web\n"), "name"),
    ("image_name with a newline", body(image_name="busybox\n"), "image_name"),
    (
        "volume with a newline",
        body(bindings=[{"container_path": "/d", "volume": "data\n"}]),
        "bindings[0]",
    ),
    ("user with a newline", body(user="root\n"), "user"),
    ("cpuset with a newline", body(cpuset="0-1\n"), "cpuset"),
    ("cpuset with other digits", body(cpuset="\u0661"), "cpuset"),
    ("mac_address with a newline", body(mac_address="02:42:ac:11:00:02\n"), "mac_address"),
    (
        "envvar key with a newline",
        body(container_envvars=[{"key": "A\n", "value": ""}]),
        "container_envvars[0]",
    ),
    ("tag with a newline", body(tags=["ssd\n"]), "tags[0]"),
    ("hostname with a newline", body(hostname="web\n"), "hostname"),
    # text no backend can store
    ("run_command with a surrogate", body(run_command="sh \ud800"), "run_command"),
    ("working_dir with NUL", body(working_dir="/a\x00"), "working_dir"),
    ("label value with a surrogate", body(labels={"a": "\udfff"}), "labels"),
    ("label key with NUL", body(labels={"a\x00": "b"}), "labels"),
    (
        "envvar value with NUL",
        body(container_envvars=[{"key": "A", "value": "\x00"}]),
        "container_envvars[0]",
    ),
    # column lengths and size caps
    ("image_name too long", body(image_name=LONGEST_IMAGE + "0"), "image_name"),
    ("cpuset too long", body(cpuset=",".join(["0"] * 65)), "cpuset"),
    ("user too long", body(user="u" * 256), "user"),
    ("run_command too long", body(run_command="x" * (64 * 1024 + 1)), "run_command"),
    ("entrypoint too long", body(entrypoint="\u00e9" * (32 * 1024 + 1)), "entrypoint"),
    ("working_dir too long", body(working_dir="/" + "d" * 4096), "working_dir"),
    (
        "host_path too long",
        body(bindings=[{"container_path": "/d", "host_path": "/" * 4097}]),
        "bindings[0]",
    ),
    ("too many labels", body(labels={f"l{i}": "" for i in range(101)}), "labels"),
    ("label value too long", body(labels={"a": "v" * 4097}), "labels"),
    ("label key too long", body(labels={"k" * 4097: ""}), "labels"),
    ("labels too big together", body(labels={f"l{i}": "v" * 4000 for i in range(17)}), "labels"),
    (
        "too many envvars",
        body(container_envvars=[{"key": f"V{i}", "value": ""} for i in range(201)]),
        "container_envvars",
    ),
    (
        "envvar value too long",
        body(container_envvars=[{"key": "A", "value": "v" * 4097}]),
        "container_envvars[0]",
    ),
    (
        "envvars too big together",
        body(container_envvars=[{"key": f"V{i}", "value": "v" * 4000} for i in range(17)]),
        "container_envvars",
    ),
    ("unknown field with a surrogate", {"image_name": "busybox", "\ud800": 1}, "body"),
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


def test_every_option_becomes_a_normalised_column_value() -> None:
    ports = [
        {"inner_port": 80},
        {"protocol": "udp", "inner_port": 53, "outer_port": 5353, "published": True},
        {"inner_port": 9000, "published": False, "outer_port": None},
    ]
    bindings = [
        {"container_path": "/data", "volume": "data.v1"},
        {"container_path": "/srv", "host_path": "/srv/www", "rewritable": False},
        {"container_path": "/cache", "host_path": None, "volume": None},
    ]
    values = validate_create(
        body(
            memory=64,
            memory_swap=128,
            cpuset="0-1,3",
            user="1000:1000",
            hostname="web1",
            domainname="example.org",
            mac_address="02:42:AC:11:FF:EE",
            tty=True,
            stdin_open=True,
            read_only=True,
            privileged=True,
            dns=["10.0.0.2", "2001:db8:0::1"],
            dns_search=["example.org"],
            extra_hosts=["db:10.0.0.5", "gw:host-gateway", "v6:::1"],
            net="bridge",
            pid="host",
            cap_add=["net_admin", "CAP_SYS_TIME"],
            cap_drop=["ALL"],
            devices=["/dev/zero", "/dev/null:/dev/n", "/dev/zero:/dev/z:rwm"],
            security_opt=["no-new-privileges", "seccomp=unconfined", "label:disable"],
            container_ports=ports,
            bindings=bindings,
            autodestroy="ALWAYS",
        )
    )
    assert values["mac_address"] == "02:42:ac:11:ff:ee"
    assert values["dns"] == ["10.0.0.2", "2001:db8::1"]
    assert values["cap_add"] == ["NET_ADMIN", "SYS_TIME"]
    assert values["container_ports"] == [
        {"protocol": "tcp", "inner_port": 80, "outer_port": None, "published": True},
        {"protocol": "udp", "inner_port": 53, "outer_port": 5353, "published": True},
        {"protocol": "tcp", "inner_port": 9000, "outer_port": None, "published": False},
    ]
    assert values["bindings"] == [
        {"host_path": None, "container_path": "/data", "rewritable": True, "volume": "data.v1"},
        {"host_path": "/srv/www", "container_path": "/srv", "rewritable": False, "volume": None},
        {"host_path": None, "container_path": "/cache", "rewritable": True, "volume": None},
    ]
    unchanged = {
        "memory_swap": 128,
        "cpuset": "0-1,3",
        "user": "1000:1000",
        "hostname": "web1",
        "domainname": "example.org",
        "tty": True,
        "stdin_open": True,
        "read_only": True,
        "privileged": True,
        "dns_search": ["example.org"],
        "extra_hosts": ["db:10.0.0.5", "gw:host-gateway", "v6:::1"],
        "net": "bridge",
        "pid": "host",
        "cap_drop": ["ALL"],
        "devices": ["/dev/zero", "/dev/null:/dev/n", "/dev/zero:/dev/z:rwm"],
        "security_opt": ["no-new-privileges", "seccomp=unconfined", "label:disable"],
        "autodestroy": "ALWAYS",
    }
    assert {name: values[name] for name in unchanged} == unchanged


NULL_MEANS_DEFAULT = {
    "memory_swap": None,
    "cpuset": "",
    "user": "",
    "hostname": "",
    "domainname": "",
    "mac_address": "",
    "tty": False,
    "stdin_open": False,
    "read_only": False,
    "privileged": False,
    "dns": [],
    "dns_search": [],
    "extra_hosts": [],
    "net": "bridge",
    "pid": "none",
    "cap_add": [],
    "cap_drop": [],
    "devices": [],
    "security_opt": [],
    "container_ports": [],
    "bindings": [],
    "container_envvars": [],
    "autorestart": "OFF",
    "autodestroy": "OFF",
}


@pytest.mark.parametrize(("field", "default"), list(NULL_MEANS_DEFAULT.items()))
def test_a_null_option_is_its_default(field: str, default: Any) -> None:
    assert validate_create(body(**{field: None}))[field] == default


@pytest.mark.parametrize(
    "fields",
    [
        {"memory_swap": -1},
        {"memory": 64, "memory_swap": 64},
        {"memory": 64, "memory_swap": -1},
        {"net": "host", "hostname": "web1"},
        {"net": "none", "dns": ["10.0.0.2"]},
        {"container_ports": [{"inner_port": 80}, {"inner_port": 80, "protocol": "udp"}]},
        {"container_ports": [{"inner_port": 1, "outer_port": 65535}]},
        {
            "bindings": [
                {"container_path": "/a", "volume": "v1"},
                {"container_path": "/b", "volume": "v1"},
            ]
        },
        {"hostname": "a" * 63},
    ],
    ids=str,
)
def test_combinations_docker_accepts_are_accepted(fields: dict[str, Any]) -> None:
    values = validate_create(body(**fields))
    for name, value in fields.items():
        assert values[name] == value or len(values[name]) == len(value)


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
        ("run_command", "x" * 64 * 1024),
        ("working_dir", "/" + "d" * 4095),
        ("cpuset", "0-1" + ",2" * 62),
        ("user", "u" * 255),
        ("labels", {f"l{i}": "v" * 600 for i in range(100)}),
        ("labels", {"k" * 4096: "v" * 4096}),
        ("container_envvars", [{"key": f"V{i}", "value": "v" * 300} for i in range(200)]),
        ("image_name", LONGEST_IMAGE),
        ("security_opt", ["no-new-privileges=false", "label=user:u", "label=disable"]),
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


@pytest.mark.parametrize(
    "node",
    [
        NODE,
        f"/api/v1/node/{NODE}/",
        f"/api/infra/v1/node/{NODE}/",
        f"/api/infra/v1/alice/node/{NODE}",
        NODE.upper(),
    ],
)
def test_a_node_is_named_by_uuid_or_resource_uri_in_either_tree(node: str) -> None:
    values = validate_create(body(node=node))
    assert take_placement(values) == PlacementRequest(node_uuid=NODE)
    assert "node" not in values


def test_tags_are_names_or_name_objects_and_leave_the_column_values() -> None:
    values = validate_create(body(tags=["ssd", {"name": "eu"}, "ssd"]))
    assert take_placement(values) == PlacementRequest(tags=frozenset({"ssd", "eu"}))
    assert "tags" not in values


def test_without_placement_fields_any_node_may_be_chosen() -> None:
    assert take_placement(validate_create(body(node=None, tags=None))) == PlacementRequest()
