"""Stackfiles: every key's mapping to the service create body, every refusal with the field it
names, validation errors restated about the stackfile key, hostile input, and the round trip
through `render_stackfile`."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from controlplane.core import stackfile, stackfile_render, stackfile_yaml, validation
from controlplane.core.errors import InvalidInputError
from controlplane.core.scheduler import STRATEGIES
from controlplane.core.service_validation import MAX_TARGET, service_body, validate_service
from controlplane.core.stackfile import (
    StackService,
    parse_services,
    parse_stackfile,
)
from controlplane.core.stackfile_keys import KEYS, UNSUPPORTED_KEYS
from controlplane.core.stackfile_render import render_stackfile
from controlplane.core.stackfile_yaml import MAX_NESTING, MAX_SERVICES, MAX_STACKFILE_BYTES


def as_given(body: dict[str, Any]) -> dict[str, Any]:
    """No validation at all: to see the body a stackfile makes, exactly."""
    return dict(body)


def parse(text: str, validate: stackfile.Validate = as_given) -> list[StackService]:
    return parse_stackfile(text, validate)


def web(options: str) -> dict[str, Any]:
    """The body of a one-service stackfile `web` with `image: busybox` and the options."""
    text = "web:\n  image: busybox\n" + textwrap.indent(textwrap.dedent(options), "  ")
    (service,) = parse_stackfile(text, as_given)
    body = dict(service.body)
    assert body.pop("name") == "web"
    assert body.pop("image") == "busybox"
    return body


def refusal(text: str, validate: stackfile.Validate = as_given) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        parse(text, validate)
    return caught.value


def port(
    inner: int, outer: int | None = None, protocol: str = "tcp", published: bool = True
) -> dict[str, Any]:
    return {"protocol": protocol, "inner_port": inner, "outer_port": outer, "published": published}


def binding(
    container: str, host: str | None = None, volume: str | None = None, rw: bool = True
) -> dict[str, Any]:
    return {"host_path": host, "container_path": container, "rewritable": rw, "volume": volume}


# --- mappings ----------------------------------------------------------------------------------

# (case id, the options of service web, the body fields they give)
MAPPINGS: list[tuple[str, str, dict[str, Any]]] = [
    ("nothing but the image", "", {}),
    ("a null is the key left out", "command:\nports: ~\n", {}),
    ("command as a string", "command: echo 'Hello World!'", {"run_command": "echo 'Hello World!'"}),
    (
        "command as a list, shell-quoted",
        "command: [sh, -c, echo it's here]",
        {"run_command": "sh -c 'echo it'\"'\"'s here'"},
    ),
    ("command of a number", "command: 42", {"run_command": "42"}),
    ("entrypoint as a string", "entrypoint: /app/run.sh", {"entrypoint": "/app/run.sh"}),
    ("entrypoint as a list", "entrypoint: [/bin/sh, -c]", {"entrypoint": "/bin/sh -c"}),
    (
        "environment as KEY=VALUE items",
        "environment: [PASSWORD=my_password, EMPTY=, URL=a=b]",
        {
            "container_envvars": [
                {"key": "PASSWORD", "value": "my_password"},
                {"key": "EMPTY", "value": ""},
                {"key": "URL", "value": "a=b"},
            ]
        },
    ),
    (
        "environment as a mapping keeps each value's text",
        "environment:\n  PORT: 8080\n  DEBUG: yes\n  RATIO: 1.10\n  NAME: web\n  EMPTY: ''\n",
        {
            "container_envvars": [
                {"key": "PORT", "value": "8080"},
                {"key": "DEBUG", "value": "yes"},
                {"key": "RATIO", "value": "1.10"},
                {"key": "NAME", "value": "web"},
                {"key": "EMPTY", "value": ""},
            ]
        },
    ),
    (
        "ports in every form",
        'ports: ["80", "443:443", "500/udp", "4500:4500/udp", 49022:22]',
        {
            "container_ports": [
                port(80),
                port(443, 443),
                port(500, protocol="udp"),
                port(4500, 4500, "udp"),
                port(22, 49022),
            ]
        },
    ),
    # Unquoted, 2222:22 is YAML 1.1's base-60 integer 133342; its text is what was meant.
    (
        "a port YAML reads as base 60",
        "ports: [2222:22, 80]",
        {"container_ports": [port(22, 2222), port(80)]},
    ),
    (
        "expose",
        'expose: ["80", 90/udp, 3000]',
        {
            "container_ports": [
                port(80, published=False),
                port(90, protocol="udp", published=False),
                port(3000, published=False),
            ]
        },
    ),
    (
        "a port both published and exposed is published once",
        "expose: [80, 81, 53/udp]\nports: [8080:80, 53]\n",
        {
            "container_ports": [
                port(80, 8080),
                port(53),
                port(81, published=False),
                port(53, protocol="udp", published=False),
            ]
        },
    ),
    (
        "volumes in every short form",
        "volumes: [/etc/mysql, /sys:/sys, /etc:/etc:ro, /srv:/srv:rw, data:/data, logs:/logs:ro,"
        " /cache:ro]",
        {
            "bindings": [
                binding("/etc/mysql"),
                binding("/sys", host="/sys"),
                binding("/etc", host="/etc", rw=False),
                binding("/srv", host="/srv"),
                binding("/data", volume="data"),
                binding("/logs", volume="logs", rw=False),
                binding("/cache", rw=False),
            ]
        },
    ),
    (
        "volumes in the long form",
        "volumes:\n"
        "- {type: bind, source: '/a:b', target: /c, read_only: true}\n"
        "- {type: volume, source: data, target: '/d:e'}\n"
        "- {type: volume, target: /f}\n",
        {
            "bindings": [
                binding("/c", host="/a:b", rw=False),
                binding("/d:e", volume="data"),
                binding("/f"),
            ]
        },
    ),
    ("target_num_containers", "target_num_containers: 4", {"target_num_containers": 4}),
    ("sequential_deployment", "sequential_deployment: yes", {"sequential_deployment": True}),
    ("tags", "tags: [staging, web]", {"tags": ["staging", "web"]}),
    ("net", "net: host", {"net": "host"}),
    ("pid", 'pid: "host"', {"pid": "host"}),
    ("privileged", "privileged: true", {"privileged": True}),
    ("cpu_shares", "cpu_shares: 512", {"cpu_shares": 512}),
    ("cpuset as a list of CPUs", "cpuset: 0,1", {"cpuset": "0,1"}),
    ("cpuset of one CPU, a YAML integer", "cpuset: 0", {"cpuset": "0"}),
    ("mem_limit in megabytes", "mem_limit: 100000m", {"memory": 100000}),
    ("mem_limit in gigabytes", "mem_limit: 1g", {"memory": 1024}),
    ("mem_limit with a fraction", "mem_limit: 1.5G", {"memory": 1536}),
    ("mem_limit with a B", "mem_limit: 512MB", {"memory": 512}),
    ("mem_limit in binary units", "mem_limit: 2 GiB", {"memory": 2048}),
    ("mem_limit in kilobytes", "mem_limit: 2048k", {"memory": 2}),
    ("mem_limit in bytes", "mem_limit: 1073741824", {"memory": 1024}),
    ("mem_limit in bytes, quoted", "mem_limit: '1048576'", {"memory": 1}),
    ("memswap_limit", "memswap_limit: 200000m", {"memory_swap": 200000}),
    ("memswap_limit unlimited", "memswap_limit: -1", {"memory_swap": -1}),
    (
        "cap_add and cap_drop",
        "cap_add: [ALL]\ncap_drop: [NET_ADMIN, SYS_ADMIN]\n",
        {"cap_add": ["ALL"], "cap_drop": ["NET_ADMIN", "SYS_ADMIN"]},
    ),
    (
        "devices",
        'devices: ["/dev/ttyUSB0:/dev/ttyUSB0"]',
        {"devices": ["/dev/ttyUSB0:/dev/ttyUSB0"]},
    ),
    ("dns as one value", "dns: 8.8.8.8", {"dns": ["8.8.8.8"]}),
    ("dns as a list", "dns: [8.8.8.8, 9.9.9.9]", {"dns": ["8.8.8.8", "9.9.9.9"]}),
    ("dns_search as one value", "dns_search: example.com", {"dns_search": ["example.com"]}),
    (
        "dns_search as a list",
        "dns_search: [a.example.com, b.example.com]",
        {"dns_search": ["a.example.com", "b.example.com"]},
    ),
    ("domainname", "domainname: foo.com", {"domainname": "foo.com"}),
    ("hostname", "hostname: foo", {"hostname": "foo"}),
    (
        "extra_hosts as a list",
        'extra_hosts: ["somehost:162.242.195.82"]',
        {"extra_hosts": ["somehost:162.242.195.82"]},
    ),
    (
        "extra_hosts as a mapping",
        "extra_hosts:\n  somehost: 162.242.195.82\n  other: '::1'\n",
        {"extra_hosts": ["somehost:162.242.195.82", "other:::1"]},
    ),
    (
        "labels as a mapping",
        'labels:\n  com.example.description: "Accounting webapp"\n'
        '  com.example.empty: ""\n  com.example.none:\n',
        {
            "labels": {
                "com.example.description": "Accounting webapp",
                "com.example.empty": "",
                "com.example.none": "",
            }
        },
    ),
    (
        "labels as a list, a bare key empty",
        'labels: ["com.example.department=Finance", "com.example.label-with-empty-value"]',
        {"labels": {"com.example.department": "Finance", "com.example.label-with-empty-value": ""}},
    ),
    (
        "security_opt",
        "security_opt: [label:user:USER, label:role:ROLE]",
        {"security_opt": ["label:user:USER", "label:role:ROLE"]},
    ),
    ("user", "user: root", {"user": "root"}),
    ("user as a uid, a YAML integer", "user: 1000", {"user": "1000"}),
    # Unquoted, 1000:30 is YAML 1.1's base-60 integer 60030.
    ("user and group YAML reads as base 60", "user: 1000:30", {"user": "1000:30"}),
    ("working_dir", "working_dir: /app", {"working_dir": "/app"}),
    (
        "read_only, tty, stdin_open",
        "read_only: true\ntty: on\nstdin_open: True\n",
        {"read_only": True, "tty": True, "stdin_open": True},
    ),
    ("a false flag", "privileged: no", {"privileged": False}),
    ("mac_address", "mac_address: 02:42:ac:11:65:43", {"mac_address": "02:42:ac:11:65:43"}),
]


@pytest.mark.parametrize(
    ("options", "fields"), [case[1:] for case in MAPPINGS], ids=[case[0] for case in MAPPINGS]
)
def test_each_key_gives_its_body_fields(options: str, fields: dict[str, Any]) -> None:
    assert web(options) == fields


# (spelling in the stackfile, the body's value)
CHOICES: list[tuple[str, str, str, str]] = [
    ("deployment_strategy", "emptiest_node", "deployment_strategy", "EMPTIEST_NODE"),
    ("deployment_strategy", "high_availability", "deployment_strategy", "HIGH_AVAILABILITY"),
    ("deployment_strategy", "every_node", "deployment_strategy", "EVERY_NODE"),
    ("deployment_strategy", "HIGH_AVAILABILITY", "deployment_strategy", "HIGH_AVAILABILITY"),
    ("deployment_strategy", "BALANCE", "deployment_strategy", "EMPTIEST_NODE"),
    ("deployment_strategy", "EVERY NODE", "deployment_strategy", "EVERY_NODE"),
    ("deployment_strategy", "Every-Node", "deployment_strategy", "EVERY_NODE"),
    ("autorestart", "off", "autorestart", "OFF"),
    ("autorestart", "no", "autorestart", "OFF"),
    ("autorestart", "false", "autorestart", "OFF"),
    ("autorestart", "on-failure", "autorestart", "ON_FAILURE"),
    ("autorestart", "on_failure", "autorestart", "ON_FAILURE"),
    ("autorestart", "ON_FAILURE", "autorestart", "ON_FAILURE"),
    ("autorestart", "always", "autorestart", "ALWAYS"),
    ("autorestart", "ALWAYS", "autorestart", "ALWAYS"),
    ("autodestroy", "no", "autodestroy", "OFF"),
    ("autodestroy", "OFF", "autodestroy", "OFF"),
    ("autodestroy", "on-success", "autodestroy", "ON_SUCCESS"),
    ("autodestroy", "ON_SUCCESS", "autodestroy", "ON_SUCCESS"),
    ("autodestroy", "always", "autodestroy", "ALWAYS"),
    ("autoreplace", "on-failure", "autoreplace", "ON_FAILURE"),
    ("autoreplace", "always", "autoreplace", "ALWAYS"),
    ("autoreplace", "off", "autoreplace", "OFF"),
    ("restart", "no", "autorestart", "OFF"),
    ("restart", '"no"', "autorestart", "OFF"),
    ("restart", "on-failure", "autorestart", "ON_FAILURE"),
    ("restart", "always", "autorestart", "ALWAYS"),
]


@pytest.mark.parametrize(("key", "spelt", "field", "value"), CHOICES)
def test_choice_keys_take_every_documented_spelling(
    key: str, spelt: str, field: str, value: str
) -> None:
    assert web(f"{key}: {spelt}") == {field: value}


def test_services_come_in_file_order_with_their_names_and_links() -> None:
    services = parse(
        """\
lb:
  image: dockercloud/haproxy
  links: [web]
  ports: ["80:80"]
web:
  image: dockercloud/quickstart-python
  links: [redis:cache, redis]
  target_num_containers: 4
redis:
  image: redis
"""
    )
    assert [service.name for service in services] == ["lb", "web", "redis"]
    assert [service.links for service in services] == [
        (("web", "web"),),
        (("redis", "cache"), ("redis", "redis")),
        (),
    ]
    assert services[1].body == {
        "name": "web",
        "image": "dockercloud/quickstart-python",
        "linked_to_service": [
            {"to_service": "redis", "name": "cache"},
            {"to_service": "redis", "name": "redis"},
        ],
        "target_num_containers": 4,
    }
    assert services[2].body == {"name": "redis", "image": "redis"}


def test_values_are_what_the_validator_returned() -> None:
    (service,) = parse(
        """\
web:
  image: busybox
  cap_add: [net_admin]
  tags: [b, a, b]
  mac_address: 02:42:AC:11:65:43
  target_num_containers: 3
""",
        validate_service,
    )
    assert service.body == {
        "name": "web",
        "image": "busybox",
        "cap_add": ["net_admin"],
        "tags": ["b", "a", "b"],
        "mac_address": "02:42:AC:11:65:43",
        "target_num_containers": 3,
    }
    assert service.values == validate_service(service.body)
    assert service.values["image_name"] == "busybox:latest"
    assert service.values["tags"] == ["a", "b"]
    assert service.values["definition"]["cap_add"] == ["NET_ADMIN"]
    assert service.values["definition"]["mac_address"] == "02:42:ac:11:65:43"


def test_the_validator_gets_a_copy_of_the_body() -> None:
    def spoil(body: dict[str, Any]) -> dict[str, Any]:
        body["image"] = "changed"
        body["container_envvars"][0]["value"] = "changed"
        return body

    (service,) = parse("web: {image: busybox, environment: [A=1]}", spoil)
    assert service.body["image"] == "busybox"
    assert service.body["container_envvars"] == [{"key": "A", "value": "1"}]


# --- refusals ----------------------------------------------------------------------------------

# (case id, stackfile, the field the error names, a part of its message)
REFUSED: list[tuple[str, str, str, str]] = [
    # the file itself
    (
        "not YAML",
        "web: [busybox",
        "stackfile",
        "not valid YAML: did not find expected ',' or ']' (line 2, column 1)",
    ),
    ("a tab for indentation", "web:\n\timage: busybox\n", "stackfile", "not valid YAML"),
    (
        "two documents",
        "web: {image: a}\n---\ndb: {image: b}\n",
        "stackfile",
        "not valid YAML: but found another document",
    ),
    ("empty", "", "stackfile", "is empty"),
    ("only a comment", "# nothing\n", "stackfile", "is empty"),
    ("null", "null\n", "stackfile", "not null"),
    (
        "a list",
        "- web\n",
        "stackfile",
        "must be a mapping of service names to their options, not a list",
    ),
    ("a string", "web\n", "stackfile", "not a scalar"),
    ("an empty mapping", "{}\n", "stackfile", "defines no service"),
    (
        "a Compose file of version 2",
        "version: '2'\nservices:\n  web: {image: busybox}\n",
        "version",
        "Compose's first format",
    ),
    # service names
    ("a name starting with a dash", "-web: {image: busybox}", "-web", "not a valid service name"),
    ("a name with a space", "my web: {image: busybox}", "my web", "not a valid service name"),
    ("a name with a slash", "a/b: {image: busybox}", "a/b", "not a valid service name"),
    (
        "a name of 256 characters",
        "a" * 256 + ": {image: busybox}",
        "stackfile",
        "256 characters long, more than 255",
    ),
    (
        "a name given twice",
        "web: {image: a}\ndb: {image: b}\nweb: {image: c}\n",
        "web",
        "is defined twice (lines 1 and 3)",
    ),
    (
        "a number as a name",
        "1: {image: busybox}",
        "stackfile",
        "has the key '1', which is not a string: quote it (line 1)",
    ),
    (
        "a boolean as a name",
        "yes: {image: busybox}",
        "stackfile",
        "has the key 'yes', which is not a string",
    ),
    ("null as a name", "~: {image: busybox}", "stackfile", "has the key null"),
    (
        "a list as a name",
        "? [a, b]\n: {image: busybox}\n",
        "stackfile",
        "has a key that is a list, not a string (line 1)",
    ),
    (
        "a merge key",
        "web:\n  <<: {image: busybox}\n",
        "web",
        "merge keys (<<) are not accepted (line 2)",
    ),
    # services
    (
        "a service that is a string",
        "web: busybox",
        "web",
        "must be a mapping of options with at least image, not a string",
    ),
    ("a service that is null", "web:\n", "web", "not null"),
    ("a service that is a list", "web: [image]", "web", "not a list"),
    ("image missing", "web: {command: ls}", "web.image", "is required"),
    ("image null", "web: {image: }", "web.image", "is required"),
    ("image a list", "web: {image: [busybox]}", "web.image", "must be a string, not a list"),
    (
        "an option given twice",
        "web:\n  image: a\n  image: b\n",
        "web.image",
        "is given twice (lines 2 and 3)",
    ),
    (
        "a variable given twice",
        "web:\n  image: a\n  environment:\n    A: 1\n    A: 2\n",
        "web.environment.A",
        "is given twice (lines 4 and 5)",
    ),
    (
        "an option named by a number",
        "web: {image: a, 1: b}",
        "web",
        "has the key '1', which is not a string",
    ),
    # types
    (
        "ports a number",
        "web: {image: a, ports: 80}",
        "web.ports",
        "must be a list of ports like 8080:80, not an integer",
    ),
    ("ports a string", "web: {image: a, ports: '80'}", "web.ports", "not a string"),
    (
        "a port a list",
        "web: {image: a, ports: [[80]]}",
        "web.ports[0]",
        "must be a string, not a list",
    ),
    ("expose a mapping", "web: {image: a, expose: {a: tcp}}", "web.expose", "not a mapping"),
    (
        "environment a string",
        "web: {image: a, environment: A=1}",
        "web.environment",
        "must be a mapping or a list of KEY=VALUE strings",
    ),
    (
        "a variable a list",
        "web: {image: a, environment: [[A=1]]}",
        "web.environment[0]",
        "must be a string, not a list",
    ),
    (
        "a variable's value a list",
        "web: {image: a, environment: {A: [1]}}",
        "web.environment.A",
        "must be a string, not a list",
    ),
    ("labels a number", "web: {image: a, labels: 5}", "web.labels", "not an integer"),
    (
        "command a mapping",
        "web: {image: a, command: {a: b}}",
        "web.command",
        "must be a string, not a mapping",
    ),
    (
        "a command argument null",
        "web: {image: a, command: [ls, ~]}",
        "web.command[1]",
        "must be a string, not null",
    ),
    (
        "a quoted flag",
        "web: {image: a, tty: 'true'}",
        "web.tty",
        "must be true or false, not a string",
    ),
    ("a flag a number", "web: {image: a, privileged: 1}", "web.privileged", "not an integer"),
    (
        "an integer quoted",
        "web: {image: a, target_num_containers: '3'}",
        "web.target_num_containers",
        "must be an integer, not a string",
    ),
    (
        "an integer a fraction",
        "web: {image: a, target_num_containers: 3.5}",
        "web.target_num_containers",
        "must be an integer, not a decimal number",
    ),
    ("an integer a boolean", "web: {image: a, cpu_shares: yes}", "web.cpu_shares", "not a boolean"),
    ("dns a mapping", "web: {image: a, dns: {a: b}}", "web.dns", "must be a string, not a mapping"),
    (
        "volumes a string",
        "web: {image: a, volumes: /data}",
        "web.volumes",
        "must be a list of volumes",
    ),
    (
        "links a string",
        "web: {image: a, links: db}\ndb: {image: a}",
        "web.links",
        "must be a list of service names",
    ),
    ("tags a string", "web: {image: a, tags: ssd}", "web.tags", "must be a list of strings"),
    (
        "mem_limit a list",
        "web: {image: a, mem_limit: [1g]}",
        "web.mem_limit",
        "must be a string, not a list",
    ),
    (
        "extra_hosts a number",
        "web: {image: a, extra_hosts: 5}",
        "web.extra_hosts",
        "must be a list of strings",
    ),
    (
        "an extra host's address null",
        "web: {image: a, extra_hosts: {db: }}",
        "web.extra_hosts.db",
        "not null",
    ),
    # environment and labels
    (
        "a variable without a value",
        "web: {image: a, environment: [A=1, PASSWORD]}",
        "web.environment[1]",
        "'PASSWORD' has no value: the server cannot take it from your shell",
    ),
    (
        "a mapped variable without a value",
        "web: {image: a, environment: {PASSWORD: }}",
        "web.environment.PASSWORD",
        "has no value",
    ),
    (
        "a label given twice",
        "web: {image: a, labels: [a=1, b, a=2]}",
        "web.labels[2]",
        "label 'a' is given twice",
    ),
    # ports
    (
        "a port bound to an address",
        "web: {image: a, ports: ['127.0.0.1:8080:80']}",
        "web.ports[0]",
        "binding an address is not supported",
    ),
    (
        "a port range",
        "web: {image: a, ports: ['8000-8010:8000-8010']}",
        "web.ports[0]",
        "port ranges are not supported",
    ),
    (
        "a port that is a word",
        "web: {image: a, ports: [http]}",
        "web.ports[0]",
        "'http' must be [HOST:]CONTAINER[/udp]",
    ),
    (
        "a port of another protocol",
        "web: {image: a, ports: [80/sctp]}",
        "web.ports[0]",
        "must be [HOST:]CONTAINER[/udp]",
    ),
    (
        "port 0",
        "web: {image: a, ports: ['80', '0']}",
        "web.ports[1]",
        "port 0 is out of range (1 to 65535)",
    ),
    (
        "a host port out of range",
        "web: {image: a, ports: ['70000:80']}",
        "web.ports[0]",
        "port 70000 is out of range",
    ),
    (
        "a port of six digits",
        "web: {image: a, ports: ['100000']}",
        "web.ports[0]",
        "must be [HOST:]CONTAINER",
    ),
    (
        "an exposed port with a host port",
        "web: {image: a, expose: ['8080:80']}",
        "web.expose[0]",
        "must be CONTAINER[/udp] (publish with ports)",
    ),
    # volumes
    (
        "a relative host path",
        "web: {image: a, volumes: ['./data:/data']}",
        "web.volumes[0]",
        "the host path './data' must be absolute, or a volume name",
    ),
    (
        "a host path from home",
        "web: {image: a, volumes: ['~/data:/data']}",
        "web.volumes[0]",
        "must be absolute",
    ),
    (
        "a relative container path",
        "web: {image: a, volumes: ['/data:data']}",
        "web.volumes[0]",
        "the container path 'data' must be absolute",
    ),
    (
        "a mode other than ro and rw",
        "web: {image: a, volumes: ['/a:/b:z']}",
        "web.volumes[0]",
        "mode 'z' must be ro or rw",
    ),
    (
        "a volume of four parts",
        "web: {image: a, volumes: ['/a:/b:ro:x']}",
        "web.volumes[0]",
        "must be [SOURCE:]CONTAINER_PATH[:ro]",
    ),
    (
        "a volume without a source",
        "web: {image: a, volumes: [':/data']}",
        "web.volumes[0]",
        "must be [SOURCE:]CONTAINER_PATH",
    ),
    (
        "an empty volume",
        "web: {image: a, volumes: ['']}",
        "web.volumes[0]",
        "must be [SOURCE:]CONTAINER_PATH",
    ),
    (
        "a long volume with an unknown key",
        "web: {image: a, volumes: [{type: volume, target: /a, nocopy: true}]}",
        "web.volumes[0].nocopy",
        "unknown key",
    ),
    (
        "a long volume of another type",
        "web: {image: a, volumes: [{type: tmpfs, target: /a}]}",
        "web.volumes[0].type",
        "must be bind or volume",
    ),
    (
        "a long bind without a source",
        "web: {image: a, volumes: [{type: bind, target: /a}]}",
        "web.volumes[0].source",
        "is required for a bind mount",
    ),
    (
        "a long volume without a target",
        "web: {image: a, volumes: [{type: volume}]}",
        "web.volumes[0].target",
        "not null",
    ),
    # links
    (
        "a link to a service not in the file",
        "web: {image: a, links: [db]}",
        "web.links[0]",
        "'db' is not a service of this stackfile",
    ),
    (
        "a link to another stack",
        "web: {image: a, links: ['amqp.staging:amqp']}",
        "web.links[0]",
        "links to other stacks' services are not supported",
    ),
    (
        "a link of three parts",
        "web: {image: a, links: ['db:a:b']}\ndb: {image: a}",
        "web.links[0]",
        "must be SERVICE or SERVICE:ALIAS",
    ),
    (
        "a link without a service",
        "web: {image: a, links: [':db']}\ndb: {image: a}",
        "web.links[0]",
        "must be SERVICE or SERVICE:ALIAS",
    ),
    (
        "a link with an empty alias",
        "web: {image: a, links: ['db:']}\ndb: {image: a}",
        "web.links[0]",
        "must be SERVICE or SERVICE:ALIAS",
    ),
    (
        "a link with a bad alias",
        "web: {image: a, links: ['db:-x']}\ndb: {image: a}",
        "web.links[0]",
        "the alias a valid name",
    ),
    (
        "an alias used twice",
        "web: {image: a, links: [db, 'cache:db']}\ndb: {image: a}\ncache: {image: a}",
        "web.links[1]",
        "the alias 'db' is used twice",
    ),
    ("a link to itself", "web: {image: a, links: [web]}", "web.links", "web -> web is a cycle"),
    (
        "a cycle of two",
        "web: {image: a, links: [db]}\ndb: {image: a, links: [web]}",
        "web.links",
        "web -> db -> web is a cycle",
    ),
    (
        "a cycle past a service that is fine",
        "lb: {image: a, links: [web]}\nweb: {image: a, links: [db, cache]}\ncache: {image: a}\n"
        "db: {image: a, links: [queue]}\nqueue: {image: a, links: ['web:w']}\n",
        "web.links",
        "web -> db -> queue -> web is a cycle: links must not form one",
    ),
    # memory
    (
        "mem_limit below a megabyte",
        "web: {image: a, mem_limit: 1000k}",
        "web.mem_limit",
        "must be at least 1m (1 MB), not 1000k",
    ),
    (
        "mem_limit of nothing",
        "web: {image: a, mem_limit: 0}",
        "web.mem_limit",
        "must be at least 1m",
    ),
    (
        "mem_limit not a whole megabyte",
        "web: {image: a, mem_limit: 1500k}",
        "web.mem_limit",
        "1500k is not a whole number of megabytes (1m is 1048576 bytes); write 1m or 2m",
    ),
    (
        "mem_limit of bytes not a whole megabyte",
        "web: {image: a, mem_limit: 1000000000}",
        "web.mem_limit",
        "write 953m or 954m",
    ),
    (
        "mem_limit of a fraction of a byte",
        "web: {image: a, mem_limit: '1048576.5'}",
        "web.mem_limit",
        "not a whole number of megabytes",
    ),
    (
        "mem_limit a word",
        "web: {image: a, mem_limit: lots}",
        "web.mem_limit",
        "must be a size like 512m or 1g, or a number of bytes, not 'lots'",
    ),
    (
        "mem_limit negative",
        "web: {image: a, mem_limit: -1}",
        "web.mem_limit",
        "must be a size like 512m",
    ),
    (
        "mem_limit in another unit",
        "web: {image: a, mem_limit: 1x}",
        "web.mem_limit",
        "must be a size",
    ),
    (
        "memswap_limit a word",
        "web: {image: a, memswap_limit: all}",
        "web.memswap_limit",
        "must be a size",
    ),
    # choices
    (
        "restart unless-stopped",
        "web: {image: a, restart: unless-stopped}",
        "web.restart",
        "unless-stopped is not supported: the policies are no, on-failure and always",
    ),
    (
        "restart with a retry count",
        "web: {image: a, restart: 'on-failure:5'}",
        "web.restart",
        "a retry count (on-failure:N) is not supported",
    ),
    (
        "restart and autorestart",
        "web:\n  image: a\n  autorestart: always\n  restart: always\n",
        "web.restart",
        "cannot be given with autorestart: give one",
    ),
    (
        "autorestart yes",
        "web: {image: a, autorestart: yes}",
        "web.autorestart",
        "must be one of off, on-failure, always, not 'yes'",
    ),
    (
        "autorestart unknown",
        "web: {image: a, autorestart: sometimes}",
        "web.autorestart",
        "must be one of off, on-failure, always",
    ),
    (
        "autodestroy on failure",
        "web: {image: a, autodestroy: on-failure}",
        "web.autodestroy",
        "must be one of off, on-success, always",
    ),
    (
        "autoreplace on success",
        "web: {image: a, autoreplace: on-success}",
        "web.autoreplace",
        "must be one of off, on-failure, always",
    ),
    (
        "deployment_strategy unknown",
        "web: {image: a, deployment_strategy: random}",
        "web.deployment_strategy",
        "must be one of emptiest_node, high_availability, every_node, not 'random'",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "problem"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_each_refusal_names_its_field(text: str, field: str, problem: str) -> None:
    error = refusal(text)
    assert error.field == field
    assert problem in error.kwargs["problem"]


def test_an_unknown_key_is_only_said_to_be_unknown() -> None:
    error = refusal("web: {image: busybox, enviroment: [A=1]}")
    assert (error.field, error.kwargs["problem"]) == ("web.enviroment", "unknown key")


@pytest.mark.parametrize("key", sorted(UNSUPPORTED_KEYS))
def test_a_known_key_without_support_says_so(key: str) -> None:
    error = refusal(f"web: {{image: busybox, {key}: x}}")
    assert error.field == f"web.{key}"
    assert error.kwargs["problem"].startswith("is not supported by this control plane: ")


def test_an_unknown_key_is_refused_even_when_null() -> None:
    assert refusal("web:\n  image: busybox\n  volumes_from:\n").field == "web.volumes_from"


def test_the_first_service_in_the_file_with_a_problem_is_named() -> None:
    error = refusal("a: {image: x}\nb: {image: x, ports: 80}\nc: {image: x, foo: 1}\n")
    assert error.field == "b.ports"


def test_no_body_is_validated_before_the_whole_file_is_read() -> None:
    calls: list[str] = []

    def recording(body: dict[str, Any]) -> dict[str, Any]:
        calls.append(body["name"])
        return validate_service(body)

    refusal("a: {image: x}\nb: {image: x, links: [a, c]}\n", recording)
    refusal("a: {image: x, links: [b]}\nb: {image: x, links: [a]}\n", recording)
    assert calls == []
    parse("a: {image: x}\nb: {image: x, links: [a]}\n", recording)
    assert calls == ["a", "b"]


# --- validation errors, about the stackfile key ------------------------------------------------

# (case id, the options of service web, the field the error names, a part of its message)
RESTATED: list[tuple[str, str, str, str]] = [
    ("the image", "image: Not/An Image", "web.image", "is not a valid image reference"),
    (
        "a variable name",
        "environment: [A=1, 1A=2]",
        "web.environment[1]",
        "key '1A' is not a valid variable name",
    ),
    (
        "a mapped variable name",
        "environment: {A: 1, B-C: 2}",
        "web.environment.B-C",
        "is not a valid variable name",
    ),
    (
        "a variable repeated",
        "environment: [A=1, B=2, A=3]",
        "web.environment[2]",
        "key 'A' is repeated",
    ),
    (
        "a command that does not split",
        "command: sh -c 'echo",
        "web.command",
        "cannot be split into arguments",
    ),
    ("an entrypoint that does not split", "entrypoint: '\"'", "web.entrypoint", "cannot be split"),
    ("a port listed twice", "ports: ['80', '8080:80']", "web.ports[1]", "80/tcp is listed twice"),
    (
        "an exposed port listed twice",
        "ports: ['80']\nexpose: [80, 81, 82, 81]",
        "web.expose[3]",
        "81/tcp is listed twice",
    ),
    (
        "an outer port used twice",
        "ports: ['8080:80', '8080:81']",
        "web.ports[1]",
        "outer port 8080/tcp is used twice",
    ),
    (
        "ports without the bridge network",
        "net: host\nports: ['80']",
        "web.ports",
        "need net bridge, not host",
    ),
    (
        "exposed ports without the bridge network",
        "net: none\nexpose: ['80']",
        "web.expose",
        "need net bridge",
    ),
    ("a network mode", "net: container:db", "web.net", "must be one of bridge, host, none"),
    (
        "a memory limit below Docker's",
        "mem_limit: 4m",
        "web.mem_limit",
        "must be between 6 and 2147483647 MB",
    ),
    (
        "a swap limit without memory",
        "memswap_limit: 1g",
        "web.memswap_limit",
        "needs memory to be set as well",
    ),
    (
        "a swap limit below memory",
        "mem_limit: 1g\nmemswap_limit: 512m",
        "web.memswap_limit",
        "must be at least memory (1024 MB)",
    ),
    (
        "a capability",
        "cap_add: [NET_ADMIN, NOPE]",
        "web.cap_add[1]",
        "'NOPE' is not a Linux capability",
    ),
    ("a DNS server given alone", "dns: dns.example.com", "web.dns", "is not an IP address"),
    ("a DNS server in a list", "dns: [8.8.8.8, nope]", "web.dns[1]", "is not an IP address"),
    (
        "a DNS search domain",
        "dns_search: -bad-",
        "web.dns_search",
        "is not a valid host or domain name",
    ),
    (
        "an extra host's address",
        "extra_hosts: {db: 1.2.3.4, cache: nope}",
        "web.extra_hosts.cache",
        "is not an IP address",
    ),
    ("an extra host in a list", "extra_hosts: [nope]", "web.extra_hosts[0]", "must be host:ip"),
    (
        "a volume name",
        "volumes: [/a, 'x:/data']",
        "web.volumes[1]",
        "volume must be 2 to 128 letters",
    ),
    (
        "a container path bound twice",
        "volumes: [/data, 'd1:/data']",
        "web.volumes[1]",
        "/data is bound twice",
    ),
    (
        "a reserved label",
        "labels: {io.controlplane.x: y}",
        "web.labels",
        "uses the reserved prefix",
    ),
    ("CPU shares", "cpu_shares: 1", "web.cpu_shares", "must be between 2 and 262144"),
    ("a CPU set", "cpuset: 2-1", "web.cpuset", "range 2-1 runs backwards"),
    (
        "a MAC address",
        "mac_address: 01:00:00:00:00:00",
        "web.mac_address",
        "must be a unicast address",
    ),
    ("a user", "user: a b", "web.user", "must be user or user:group"),
    ("a working directory", "working_dir: app", "web.working_dir", "must be an absolute path"),
    ("a host name", "hostname: -web", "web.hostname", "is not a valid host or domain name"),
    (
        "a device",
        "devices: [/dev/a:/dev/b:x]",
        "web.devices[0]",
        "permissions 'x' must be made of r, w and m",
    ),
    ("a security option", "security_opt: [apparmor]", "web.security_opt[0]", "must be key=value"),
    ("a tag", "tags: [ok, not ok]", "web.tags[1]", "must be 1 to 64 letters"),
    (
        "the number of containers",
        f"target_num_containers: {MAX_TARGET + 1}",
        "web.target_num_containers",
        f"must be between 0 and {MAX_TARGET}",
    ),
]


@pytest.mark.parametrize(
    ("options", "field", "problem"),
    [case[1:] for case in RESTATED],
    ids=[case[0] for case in RESTATED],
)
def test_a_validation_error_names_the_stackfile_key(options: str, field: str, problem: str) -> None:
    text = "web:\n  image: busybox\n" + textwrap.indent(options, "  ")
    if options.startswith("image:"):
        text = "web:\n  " + options
    error = refusal(text, validate_service)
    assert error.field == field
    assert problem in error.kwargs["problem"]


def test_a_link_s_validation_error_names_its_item() -> None:
    text = f"web: {{image: a, links: [db, 'db:{'a' * 64}']}}\ndb: {{image: b}}\n"
    error = refusal(text, validate_service)
    assert error.field == "web.links[1]"
    assert error.kwargs["problem"].startswith("name must be 1 to 63 letters")


def test_a_validation_error_about_a_field_no_key_gave_names_the_service() -> None:
    """A validator that checks a field no stackfile key gives: the error is about the service
    and says the field."""

    def placed(body: dict[str, Any]) -> dict[str, Any]:
        return validation.validate_create({"image_name": body["image"], "node": "nowhere"})

    error = refusal("web: {image: busybox}", placed)
    assert error.field == "web"
    assert error.kwargs["problem"] == "node: 'nowhere' is not a node resource URI or uuid"


def test_an_image_error_under_the_container_api_s_name_is_about_image() -> None:
    def container(body: dict[str, Any]) -> dict[str, Any]:
        return validation.validate_create({"image_name": body["image"]})

    error = refusal("web: {image: 'Bad Image'}", container)
    assert error.field == "web.image"
    assert error.kwargs["problem"] == "'Bad Image' is not a valid image reference (repo[:tag])"


def test_other_errors_of_the_validator_pass_unchanged() -> None:
    def broken(body: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        parse("web: {image: busybox}", broken)


def test_a_sample_stackfile_passes_the_real_validation() -> None:
    services = parse(
        """\
lb:
  image: dockercloud/haproxy
  links: [web]
  ports: ["80:80"]
  restart: always
  deployment_strategy: every_node
web:
  image: dockercloud/quickstart-python
  links: [redis:cache]
  target_num_containers: 4
  environment: {PORT: 8080}
  expose: [8080]
  mem_limit: 256m
  volumes: [data:/data, /cache:ro]
redis:
  image: redis
  command: [redis-server, --appendonly, "yes"]
  labels: [tier=data]
""",
        validate_service,
    )
    assert [service.values["image_name"] for service in services] == [
        "dockercloud/haproxy:latest",
        "dockercloud/quickstart-python:latest",
        "redis:latest",
    ]
    lb, web, redis = (service.values for service in services)
    assert (lb["deployment_strategy"], lb["definition"]["autorestart"]) == ("EVERY_NODE", "ALWAYS")
    assert lb["linked_to_service"] == [{"to_service": "web", "name": "web"}]
    assert web["target_num_containers"] == 4
    assert web["definition"]["container_ports"] == [port(8080, published=False)]
    assert web["definition"]["bindings"] == [
        binding("/data", volume="data"),
        binding("/cache", rw=False),
    ]
    assert redis["definition"]["run_command"] == "redis-server --appendonly yes"


# --- hostile input -----------------------------------------------------------------------------


def services_text(count: int) -> str:
    return "".join(f"s{index}: {{image: busybox}}\n" for index in range(count))


def test_the_most_services_are_accepted_and_one_more_is_refused() -> None:
    assert len(parse(services_text(MAX_SERVICES))) == MAX_SERVICES
    error = refusal(services_text(MAX_SERVICES + 1))
    assert (error.field, error.kwargs["problem"]) == (
        "stackfile",
        "defines 101 services, more than 100",
    )


def test_a_stackfile_of_the_largest_size_is_read_and_one_byte_more_is_refused() -> None:
    head = "web:\n  image: busybox\n  labels:\n    big: "
    text = head + "x" * (MAX_STACKFILE_BYTES - len(head) - 1) + "\n"
    assert len(text.encode()) == MAX_STACKFILE_BYTES
    assert len(parse(text)[0].body["labels"]["big"]) == MAX_STACKFILE_BYTES - len(head) - 1
    error = refusal(text + " ")
    assert error.field == "stackfile"
    assert error.kwargs["problem"] == f"must be at most {MAX_STACKFILE_BYTES} bytes, not 262145"


def test_the_size_cap_counts_bytes_not_characters() -> None:
    text = "web: {image: busybox, labels: {a: " + "é" * (MAX_STACKFILE_BYTES // 2) + "}}"
    assert len(text) < MAX_STACKFILE_BYTES < len(text.encode())
    assert "must be at most" in refusal(text).kwargs["problem"]


def test_a_huge_text_is_refused_before_it_is_looked_at() -> None:
    assert "must be at most" in refusal("\x00" * (10 * MAX_STACKFILE_BYTES)).kwargs["problem"]


BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]
"""

# (case id, stackfile, the error's problem)
HOSTILE: list[tuple[str, str, str]] = [
    (
        "billion laughs",
        BILLION_LAUGHS,
        "anchors and aliases (& and *) are not accepted (line 1, column 4)",
    ),
    (
        "an anchor alone",
        "web: &w {image: busybox}",
        "anchors and aliases (& and *) are not accepted",
    ),
    ("an anchor on a scalar", "web: {image: &i busybox}", "anchors and aliases"),
    ("a merge of an alias", "base: &b {image: x}\nweb:\n  <<: *b\n", "anchors and aliases"),
    (
        "a Python object",
        "web: !!python/object/apply:os.system [echo hi]",
        "tags are not accepted (found 'tag:yaml.org,2002:python/object/apply:os.system')"
        " (line 1, column 6)",
    ),
    ("a custom tag", "web: {image: !secret x}", "tags are not accepted (found '!secret')"),
    ("a standard tag", "web: {image: x, cpu_shares: !!int '5'}", "tags are not accepted"),
    ("binary", "web: {image: !!binary aGk=}", "tags are not accepted"),
    ("a non-specific tag", "web: {image: ! x}", "tags are not accepted (found '!')"),
    ("a tagged mapping", "web: !!map {image: x}", "tags are not accepted"),
    (
        "deep flow nesting",
        "web: " + "[" * 500 + "]" * 500,
        f"nests deeper than {MAX_NESTING} levels (line 1, column 15)",
    ),
    # libyaml's own cap on flow levels may come first: its message says nesting too
    ("deep flow nesting, unclosed", "[" * 200_000, "nest"),
    (
        "deep block nesting",
        "".join(" " * depth + "a:\n" for depth in range(100)),
        f"nests deeper than {MAX_NESTING} levels (line 11, column 11)",
    ),
    ("a NUL in the text", "web: {image: busy\x00box}", "must not contain NUL characters"),
    (
        "a lone surrogate in the text",
        "web: {image: busy\ud800box}",
        "must not contain surrogate code points",
    ),
    (
        "a control character",
        "web:\n  image: busy\x01box\n",
        "is not valid YAML: the character U+0001 is not allowed (line 2, column 14)",
    ),
    ("a non-character", "web: {image: x\ufffe}", "the character U+FFFE is not allowed"),
]


@pytest.mark.parametrize(
    ("text", "problem"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE]
)
def test_hostile_input_is_refused_about_the_file(text: str, problem: str) -> None:
    error = refusal(text)
    assert error.field == "stackfile"
    assert problem in error.kwargs["problem"]


# (case id, stackfile, the field, the error's problem)
HOSTILE_VALUES: list[tuple[str, str, str, str]] = [
    (
        "an escaped NUL in a value",
        'web: {image: "busy\\0box"}',
        "web.image",
        "must not contain NUL",
    ),
    (
        "an escaped NUL in a variable",
        'web: {image: x, environment: {A: "\\x00"}}',
        "web.environment.A",
        "must not contain NUL",
    ),
    (
        "an escaped NUL in a key",
        'web: {image: x, labels: {"a\\0": b}}',
        "web.labels",
        "must not contain NUL",
    ),
    (
        "an escaped NUL in a service name",
        '"web\\0": {image: x}',
        "stackfile",
        "must not contain NUL",
    ),
    (
        "a huge integer",
        "web: {image: x, target_num_containers: " + "9" * 100_000 + "}",
        "web.target_num_containers",
        "is too large (100000 characters)",
    ),
    (
        "a huge base-60 integer",
        "web: {image: x, cpu_shares: " + "1:2" * 30_000 + "}",
        "web.cpu_shares",
        "is too large",
    ),
    (
        "a huge port",
        "web: {image: x, ports: [" + "9" * 100_000 + "]}",
        "web.ports[0]",
        "must be [HOST:]CONTAINER",
    ),
    (
        "a huge memory limit",
        "web: {image: x, mem_limit: " + "9" * 100_000 + "}",
        "web.mem_limit",
        "must be a size",
    ),
    (
        "a huge float",
        "web: {image: x, cpu_shares: 1e99999}",
        "web.cpu_shares",
        "must be an integer",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [case[1:] for case in HOSTILE_VALUES],
    ids=[case[0] for case in HOSTILE_VALUES],
)
def test_hostile_values_are_refused_about_their_key(text: str, field: str, problem: str) -> None:
    error = refusal(text)
    assert error.field == field
    assert problem in error.kwargs["problem"]


def test_an_escaped_surrogate_is_refused() -> None:
    """libyaml refuses it as YAML; PyYAML's own parser reads it, and then it is not storable."""
    problem = refusal('web: {image: "\\ud800"}').kwargs["problem"]
    assert "invalid Unicode character escape code" in problem or "surrogate" in problem
    with pytest.raises(InvalidInputError, match="web.image: must not contain surrogate"):
        stackfile_yaml._mapping(
            stackfile_yaml._PythonLoader('web: {image: "\\ud800"}').get_single_node(), "stackfile"
        )


def test_a_huge_number_where_a_string_goes_is_its_text() -> None:
    digits = "7" * 100_000
    assert web(f"command: {digits}") == {"run_command": digits}


def test_a_long_string_is_quoted_short_in_messages() -> None:
    error = refusal("web: {image: x, ports: [" + "x" * 10_000 + "]}")
    assert len(error.message) < 200


def test_text_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_stackfile(b"web: {image: x}", as_given)  # type: ignore
    assert caught.value.field == "stackfile"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 20_000, "nests deeper than"),
        ("- " * 20_000, "nests deeper than"),
        (BILLION_LAUGHS, "anchors and aliases"),
        ("web: !!python/name:os.system", "tags are not accepted"),
    ],
)
def test_the_pure_python_parser_refuses_the_same(text: str, problem: str) -> None:
    """Without libyaml PyYAML parses in Python; the same refusals hold, as early (the deep
    cases would take minutes in its scanner if it read on)."""
    loader = stackfile_yaml._PythonLoader(text)
    with pytest.raises(stackfile_yaml._Refused, match=problem):
        loader.get_single_node()
    loader.dispose()


# --- decoded stackfiles ------------------------------------------------------------------------


def test_a_decoded_stackfile_reads_as_its_text_does() -> None:
    """What a CLI sends for a stackfile it loaded: JSON numbers and booleans where strings go
    are their JSON text."""
    (web, db) = parse_services(
        {
            "web": {
                "image": "busybox",
                "ports": [80, "8080:81"],
                "restart": False,
                "user": 1000,
                "environment": {"PORT": 8080, "DEBUG": True, "RATIO": 1.5},
                "privileged": True,
                "target_num_containers": 2,
                "mem_limit": 1073741824,
                "links": ["db:database"],
            },
            "db": {"image": "busybox", "expose": [5432]},
        },
        as_given,
    )
    assert web.body == {
        "name": "web",
        "image": "busybox",
        "container_ports": [port(80), port(81, 8080)],
        "autorestart": "OFF",
        "user": "1000",
        "container_envvars": [
            {"key": "PORT", "value": "8080"},
            {"key": "DEBUG", "value": "true"},
            {"key": "RATIO", "value": "1.5"},
        ],
        "privileged": True,
        "target_num_containers": 2,
        "memory": 1024,
        "linked_to_service": [{"to_service": "db", "name": "database"}],
    }
    assert web.links == (("db", "database"),)
    assert db.body["container_ports"] == [port(5432, published=False)]


def test_a_decoded_stackfile_takes_what_json_escapes_in_yaml_would_lose() -> None:
    """JSON text read as YAML refuses a character outside the BMP (JSON's surrogate-pair
    escapes are no YAML) and a key over YAML's 1024 characters; a decoded one takes both."""
    label = "k" * 2000
    (web,) = parse_services(
        {"web": {"image": "x", "environment": {"A": "hi 😀"}, "labels": {label: "v"}}},
        validate_service,
    )
    assert web.values["definition"]["container_envvars"] == [{"key": "A", "value": "hi 😀"}]
    assert web.values["definition"]["labels"] == {label: "v"}


# (case id, decoded stackfile, the field the error names, a part of its message)
DECODED_REFUSED: list[tuple[str, Any, str, str]] = [
    ("a list", [{"image": "x"}], "stackfile", "must be a mapping of service names"),
    ("nothing", {}, "stackfile", "defines no service"),
    (
        "too many services",
        {f"s{index}": {"image": "x"} for index in range(MAX_SERVICES + 1)},
        "stackfile",
        "more than 100",
    ),
    ("a bad name", {"a b": {"image": "x"}}, "a b", "not a valid service name"),
    ("a service that is a string", {"web": "busybox"}, "web", "not a string"),
    ("image missing", {"web": {"command": "ls"}}, "web.image", "is required"),
    ("an unknown key", {"web": {"image": "x", "foo": 1}}, "web.foo", "unknown key"),
    (
        "an unsupported key",
        {"web": {"image": "x", "roles": ["global"]}},
        "web.roles",
        "not supported",
    ),
    ("a key that is no string", {"web": {"image": "x", 1: 2}}, "web", "has the key 1"),
    ("a NUL", {"web": {"image": "x", "environment": {"A": "\x00"}}}, "web.environment.A", "NUL"),
    ("a NUL in a key", {"web": {"image": "x", "labels": {"\x00": "v"}}}, "web.labels", "NUL"),
    ("a quoted flag", {"web": {"image": "x", "tty": "true"}}, "web.tty", "not a string"),
    (
        "a fraction for an integer",
        {"web": {"image": "x", "cpu_shares": 1.5}},
        "web.cpu_shares",
        "not a decimal number",
    ),
    (
        "a huge integer",
        {"web": {"image": "x", "cpu_shares": 10**100}},
        "web.cpu_shares",
        "is too large",
    ),
    (
        "a huge integer for a string",
        {"web": {"image": "x", "user": 10**1000}},
        "web.user",
        "is too large",
    ),
    ("no JSON", {"web": {"image": "x", "tags": {"a"}}}, "web.tags", "must be JSON, not a set"),
    (
        "a bare variable",
        {"web": {"image": "x", "environment": ["A"]}},
        "web.environment[0]",
        "has no value",
    ),
    ("a cycle", {"a": {"image": "x", "links": ["a"]}}, "a.links", "a -> a is a cycle"),
    (
        "deep lists",
        {"web": {"image": "x", "command": [[[[[[[[[["ls"]]]]]]]]]]}},
        "web.command" + "[0]" * 8,
        "nests deeper than 10 levels",
    ),
    (
        "deep mappings",
        {
            "web": {
                "image": "x",
                "labels": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": "j"}}}}}}}}},
            }
        },
        "web.labels.a.b.c.d.e.f.g.h",
        "nests deeper than 10 levels",
    ),
]


@pytest.mark.parametrize(
    ("document", "field", "problem"),
    [case[1:] for case in DECODED_REFUSED],
    ids=[case[0] for case in DECODED_REFUSED],
)
def test_each_refusal_of_a_decoded_stackfile_names_its_field(
    document: Any, field: str, problem: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_services(document, as_given)
    assert caught.value.field == field
    assert problem in caught.value.kwargs["problem"]


def test_a_decoded_stackfile_s_validation_errors_name_the_key() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_services(
            {"web": {"image": "x", "environment": {"A": "1", "B-C": "2"}}}, validate_service
        )
    assert caught.value.field == "web.environment.B-C"


# --- fuzzing: whatever the text, an InvalidInputError or services --------------------------------

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# Pieces of YAML syntax and of stackfiles, strung together.
YAMLISH = st.lists(
    st.sampled_from([*"ab01 :-[]{},'\"&*!|>#%@`?\n\t=/~.\\", "image", "web", "ports", "  "])
).map("".join)


@FUZZ
@given(text=YAMLISH)
def test_any_text_is_services_or_an_invalid_input_error(text: str) -> None:
    try:
        parse_stackfile(text, validate_service)
    except InvalidInputError:
        pass


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["80", "8080:80", "/a:/b:ro", "A=1", "no", "1g", "db", "web:w", "on-failure"]),
)
OPTIONS = st.dictionaries(
    st.sampled_from(sorted(KEYS | set(UNSUPPORTED_KEYS) | {"foo"})),
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=5,
)


@FUZZ
@given(
    stack=st.dictionaries(st.sampled_from(["web", "db", "-x", "1"]), OPTIONS | SCALARS, max_size=3)
)
def test_any_document_is_services_or_an_invalid_input_error(stack: dict[str, Any]) -> None:
    for read in (
        lambda: parse_stackfile(yaml.safe_dump(stack), validate_service),
        lambda: parse_services(stack, validate_service),
    ):
        try:
            read()
        except InvalidInputError:
            pass


# --- rendering ---------------------------------------------------------------------------------

SAMPLE = """\
lb:
  image: dockercloud/haproxy
  links: [web]
  ports: ["80:80", 443, 53/udp]
  restart: on-failure
  deployment_strategy: high_availability
web:
  image: dockercloud/quickstart-python
  links: [redis:cache]
  target_num_containers: 4
  sequential_deployment: true
  command: [python, app.py, --name, "it's"]
  environment: [PORT=8080, DEBUG=yes]
  expose: [8080, 80]
  mem_limit: 256m
  memswap_limit: -1
  volumes: [data:/data, /cache:ro, /etc:/etc:ro, {type: bind, source: /a:b, target: /c}]
  labels: {tier: web, empty: ''}
  tags: [eu, ssd]
  autodestroy: on-success
  autoreplace: always
redis:
  image: redis
  cpu_shares: 512
  cpuset: 0-1
  privileged: true
  cap_add: [NET_ADMIN]
  cap_drop: [ALL]
  devices: [/dev/fuse]
  dns: 8.8.8.8
  dns_search: [example.com]
  extra_hosts: {db: 10.0.0.1}
  security_opt: [no-new-privileges]
  user: 999:999
  working_dir: /data
  hostname: redis
  domainname: example.com
  mac_address: 02:42:ac:11:65:43
  read_only: true
  tty: true
  stdin_open: true
"""


def test_render_reads_back_to_the_same_bodies() -> None:
    services = parse(SAMPLE)
    text = render_stackfile([(service.name, service.body) for service in services])
    assert [service.body for service in parse(text)] == [service.body for service in services]


def test_render_of_stored_services_reads_back_to_the_same_values() -> None:
    """The export: each service's stored values, as the create body that gives them again."""
    services = parse(SAMPLE, validate_service)
    text = render_stackfile([(service.name, service_body(service.values)) for service in services])
    again = parse(text, validate_service)
    assert [service.values for service in again] == [service.values for service in services]
    assert [service.links for service in again] == [service.links for service in services]


def test_render_of_a_stored_service_without_options_is_its_image() -> None:
    (service,) = parse("web: {image: busybox}", validate_service)
    body = service_body(service.values)
    assert len(body) > 30  # every field, at its default
    assert render_stackfile([("web", body)]) == "web:\n  image: busybox:latest\n"


def test_a_link_stored_without_an_alias_is_written_bare() -> None:
    body = {"image": "a", "linked_to_service": [{"to_service": "db", "name": None}]}
    text = render_stackfile([("web", body), ("db", {"image": "b"})])
    assert parse(text)[0].links == (("db", "db"),)


def test_render_leaves_out_every_default() -> None:
    body = {
        "name": "web",
        "image": "busybox:latest",
        "target_num_containers": 1,
        "deployment_strategy": "EMPTIEST_NODE",
        "sequential_deployment": False,
        "run_command": None,
        "entrypoint": "",
        "container_envvars": [],
        "container_ports": [],
        "linked_to_service": [],
        "bindings": [],
        "autorestart": "OFF",
        "autodestroy": "OFF",
        "autoreplace": "OFF",
        "tags": [],
        "memory": None,
        "memory_swap": None,
        "cpu_shares": None,
        "cpuset": "",
        "privileged": False,
        "net": "bridge",
        "pid": "none",
        "working_dir": "",
        "user": "",
        "hostname": "",
        "domainname": "",
        "mac_address": "",
        "dns": [],
        "dns_search": [],
        "extra_hosts": [],
        "cap_add": [],
        "cap_drop": [],
        "devices": [],
        "security_opt": [],
        "labels": {},
        "read_only": False,
        "tty": False,
        "stdin_open": False,
    }
    assert set(body) == stackfile_render.BODY_FIELDS
    assert render_stackfile([("web", body)]) == "web:\n  image: busybox:latest\n"


def test_render_writes_the_documented_spellings() -> None:
    body = {
        "image": "busybox",
        "autorestart": "ON_FAILURE",
        "autodestroy": "ON_SUCCESS",
        "deployment_strategy": "EVERY_NODE",
        "memory": 512,
        "container_ports": [port(80, 8080), port(53, protocol="udp", published=False)],
        "linked_to_service": [
            {"to_service": "db", "name": "db"},
            {"to_service": "db", "name": "x"},
        ],
    }
    assert yaml.safe_load(render_stackfile([("web", body), ("db", {"image": "db"})])) == {
        "web": {
            "image": "busybox",
            "ports": ["8080:80"],
            "expose": ["53/udp"],
            "links": ["db", "db:x"],
            "deployment_strategy": "every_node",
            "autorestart": "on-failure",
            "autodestroy": "on-success",
            "mem_limit": "512m",
        },
        "db": {"image": "db"},
    }


@pytest.mark.parametrize(
    ("services", "problem"),
    [
        (
            [("web", {"image": "a", "roles": ["global"]})],
            "no stackfile key says the service field 'roles'",
        ),
        ([("web", {"name": "web"})], "a service without an image cannot be written"),
        ([("web", {"image": "a"}), ("web", {"image": "b"})], "service 'web' is given twice"),
    ],
)
def test_render_refuses_what_a_stackfile_cannot_say(
    services: list[tuple[str, dict[str, Any]]], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        render_stackfile(services)


# Any text a stored string may hold: everything but NUL and surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
SOME_TEXT = TEXT.filter(bool)
SOME_TEXTS = st.lists(TEXT, min_size=1, max_size=3)
ALNUM = "abcXYZ0189"


def word(first: str, rest: str, min_rest: int = 0) -> st.SearchStrategy[str]:
    """Names of a pattern, drawn faster than from the regular expression."""
    return st.builds(
        str.__add__, st.sampled_from(first), st.text(rest, min_size=min_rest, max_size=8)
    )


SERVICE_NAME = word(ALNUM, ALNUM + "_.-")  # validation.NAME
ENV_KEY = word("A_z", ALNUM + "_")  # validation.ENV_KEY
VOLUME_NAME = word(ALNUM, ALNUM + "_.-", min_rest=1)  # validation.VOLUME_NAME
PATH = TEXT.map(lambda text: "/" + text)
PORT = st.integers(1, 65535)
BINDING = st.one_of(
    st.builds(binding, PATH, host=PATH, rw=st.booleans()),
    st.builds(
        binding,
        PATH,
        volume=VOLUME_NAME,
        rw=st.booleans(),
    ),
    st.builds(binding, PATH, rw=st.booleans()),
)
OPTIONAL_FIELDS = {
    "target_num_containers": st.integers(-(10**9), 10**9).filter(lambda number: number != 1),
    "deployment_strategy": st.sampled_from(STRATEGIES[1:]),
    "sequential_deployment": st.just(True),
    "tags": SOME_TEXTS,
    "run_command": SOME_TEXT,
    "entrypoint": SOME_TEXT,
    "container_envvars": st.dictionaries(ENV_KEY, TEXT, min_size=1, max_size=3).map(
        lambda variables: [{"key": key, "value": value} for key, value in variables.items()]
    ),
    "container_ports": st.lists(
        st.one_of(
            st.builds(port, PORT, st.none() | PORT, st.sampled_from(["tcp", "udp"])),
            st.builds(
                port, PORT, protocol=st.sampled_from(["tcp", "udp"]), published=st.just(False)
            ),
        ),
        min_size=1,
        max_size=4,
    ),
    "bindings": st.lists(BINDING, min_size=1, max_size=3),
    "autorestart": st.sampled_from(validation.AUTORESTART_VALUES[1:]),
    "autodestroy": st.sampled_from(validation.AUTODESTROY_VALUES[1:]),
    "autoreplace": st.sampled_from(validation.AUTORESTART_VALUES[1:]),
    "memory": st.integers(1, 2**40),
    "memory_swap": st.just(-1) | st.integers(1, 2**40),
    "cpu_shares": st.integers(-(10**9), 10**9),
    "cpuset": SOME_TEXT,
    "privileged": st.just(True),
    "net": SOME_TEXT.filter(lambda text: text != "bridge"),
    "pid": SOME_TEXT.filter(lambda text: text != "none"),
    "working_dir": SOME_TEXT,
    "user": SOME_TEXT,
    "hostname": SOME_TEXT,
    "domainname": SOME_TEXT,
    "mac_address": SOME_TEXT,
    "dns": SOME_TEXTS,
    "dns_search": SOME_TEXTS,
    "extra_hosts": SOME_TEXTS,
    "cap_add": SOME_TEXTS,
    "cap_drop": SOME_TEXTS,
    "devices": SOME_TEXTS,
    "security_opt": SOME_TEXTS,
    "labels": st.dictionaries(TEXT, TEXT, min_size=1, max_size=3),
    "read_only": st.just(True),
    "tty": st.just(True),
    "stdin_open": st.just(True),
}


def published_first(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ports as a stackfile gives them back: published first, an exposed port that is also
    published left out."""
    published = [port for port in ports if port["published"]]
    seen = {(port["inner_port"], port["protocol"]) for port in published}
    return published + [
        port
        for port in ports
        if not port["published"] and (port["inner_port"], port["protocol"]) not in seen
    ]


@st.composite
def stacks(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """Service bodies in their canonical form: every field off its default, and links only to
    earlier services, under aliases used once."""
    names = draw(st.lists(SERVICE_NAME, min_size=1, max_size=3, unique=True))
    services = []
    for position, name in enumerate(names):
        body = draw(st.fixed_dictionaries({"image": TEXT}, optional=OPTIONAL_FIELDS))
        if "container_ports" in body:
            body["container_ports"] = published_first(body["container_ports"])
        if position:
            links = draw(
                st.lists(
                    st.tuples(st.sampled_from(names[:position]), st.none() | SERVICE_NAME),
                    max_size=2,
                    unique_by=lambda link: link[1] or link[0],
                )
            )
            if links:
                body["linked_to_service"] = [
                    {"to_service": target, "name": alias or target} for target, alias in links
                ]
        services.append((name, {"name": name, **body}))
    return services


@settings(FUZZ, max_examples=50)
@given(services=stacks())
def test_any_bodies_are_rendered_to_a_stackfile_read_back_to_them(
    services: list[tuple[str, dict[str, Any]]],
) -> None:
    text = render_stackfile(services)
    assert [(service.name, service.body) for service in parse_stackfile(text, as_given)] == services
    # and decoded, as a client that loads the file sends it
    decoded = parse_services(yaml.safe_load(text), as_given)
    assert [(service.name, service.body) for service in decoded] == services
