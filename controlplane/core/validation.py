"""Validation of the container create body (docs/api.md §3.4 field names).

Pure: takes the decoded JSON object and returns the column values, or raises
`InvalidInputError` naming the first bad field. Everything is checked before anything is
written, so a refused create leaves the database and Docker untouched. The rules follow what
Docker itself would refuse later (names, memory floor, CPU share range, capability names, port
and path shapes), so bad input fails here with a clear sentence instead of as a failed Action
minutes later. Whether an operator allows the dangerous options is a separate question, answered
by `controlplane.core.policy`.

A null value means "the default" for every optional field, as in the Tutum fixtures.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import uuid
from typing import Any

from controlplane.core import checks, policy
from controlplane.core.errors import InvalidInputError
from controlplane.core.messages import LABEL_PREFIX, TAG_NAME
from controlplane.core.scheduler import PlacementRequest

# For every choice field the first value is the default.
AUTORESTART_VALUES = ("OFF", "ON_FAILURE", "ALWAYS")
AUTODESTROY_VALUES = ("OFF", "ON_SUCCESS", "ALWAYS")
NET_MODES = ("bridge", "host", "none")
PID_MODES = ("none", "host")
PROTOCOLS = ("tcp", "udp")
MAX_NAME_LENGTH = 255
MEMORY_RANGE_MB = (6, 2**31 - 1)  # Docker refuses a limit below 6 MB; the top keeps bytes in int64.
CPU_SHARES_RANGE = (2, 262144)  # The kernel's cpu.shares bounds, which Docker enforces.
PORT_RANGE = (1, 65535)
UNLIMITED_SWAP = -1
MAX_UTS_NAME = 64  # The kernel's limit for a host or domain name (sethostname: __NEW_UTS_LEN).
# Column lengths (controlplane/db/models.py): a longer value would fail the write on PostgreSQL.
MAX_IMAGE_NAME = 512
MAX_CPUSET = 128
MAX_USER = 255
# Size caps (docs/api.md §3.4), well inside the 1 MiB body limit: a command line, and the labels
# and variables Docker sends whole with every inspect and event of the container.
MAX_COMMAND_BYTES = 64 * 1024
MAX_LABELS = 100
MAX_ENVVARS = 200
MAX_ITEM_BYTES = 4096  # each label key or value, each variable's value
MAX_MAPPING_BYTES = 64 * 1024  # all labels, or all variables, keys and values together

# The Linux capabilities (include/uapi/linux/capability.h) without the CAP_ prefix, and Docker's
# ALL. A name outside this list is a typo; a name Docker's own list lacks (BPF on Docker 20.10)
# fails the start with Docker's message.
CAPABILITIES = frozenset(
    """CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
    LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
    SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
    SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
    MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF
    CHECKPOINT_RESTORE ALL""".split()
)
# Docker's --security-opt keys; `no-new-privileges` may also stand alone.
SECURITY_OPT_KEYS = ("no-new-privileges", "label", "apparmor", "seccomp", "systempaths")

# The whole-value patterns (fullmatch) are public: the OpenAPI document states the same ones
# (controlplane.api.openapi_schemas), so what it promises cannot drift from what is checked.
NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{1,127}")  # Docker's, with a length cap
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CPUSET = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")
USER_SPEC = re.compile(r"[^:\s]+(:[^:\s]+)?")
MAC_ADDRESS = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
PORT_DIGITS = re.compile(r"[0-9]{1,5}")

# Docker's reference grammar (distribution/reference): [domain/]path[:tag][@digest].
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?",
    re.ASCII,  # Docker's \w is ASCII only
)


def validate_create(body: dict[str, Any]) -> dict[str, Any]:
    """Column values for a new container from a create request body, plus the placement fields
    (`node`, `tags`) when given, which `take_placement` removes before anything is stored.

    Unknown fields are refused rather than ignored: a misspelt option that silently does nothing
    is worse than a 400 that names it. Fields are checked one by one, then the combinations
    Docker refuses or ignores (a MAC address or ports outside the bridge network, a swap limit
    below the memory limit).

    Every string in the body, keys included, is checked first (`checks.document`): no backend
    stores NUL or a lone surrogate, in a text column or a JSON one.

    Raises:
        InvalidInputError: a field is missing, of the wrong type, or out of range.
    """
    checks.document(body)
    unknown = sorted(set(body) - set(FIELD_CHECKS))
    if unknown:
        raise InvalidInputError(
            unknown[0], "unknown field; see the container fields in docs/api.md §3.4"
        )
    if "image_name" not in body:
        raise InvalidInputError("image_name", "is required")
    values = {
        field: check(field, body[field]) for field, check in FIELD_CHECKS.items() if field in body
    }
    if values.get("name") is None:
        values["name"] = default_name(values["image_name"])
    _check_network(values)
    _check_memory_swap(values)
    return values


def take_placement(values: dict[str, Any]) -> PlacementRequest:
    """Remove the placement fields from validated create values: they choose the node, and the
    container's `node` is the node chosen, not the one asked for."""
    return PlacementRequest(
        node_uuid=values.pop("node", None), tags=frozenset(values.pop("tags", ()))
    )


def default_name(image_name: str) -> str:
    """A container name derived from the image, as Tutum did: the last path part of the repo."""
    match = IMAGE_REFERENCE.fullmatch(image_name)
    repo = match.group("name") if match else image_name
    candidate = re.sub(r"[^a-zA-Z0-9_.-]", "-", repo.rsplit("/", 1)[-1]).lstrip("_.-")
    return candidate or "container"


# --- combinations ----------------------------------------------------------------------------


def _check_network(values: dict[str, Any]) -> None:
    """Docker refuses a MAC address outside the bridge network, and ports (published or only
    exposed) mean something only for a container with its own network stack on the bridge."""
    net = values.get("net", NET_MODES[0])
    if net == "bridge":
        return
    if values.get("mac_address"):
        raise InvalidInputError("mac_address", f"cannot be set with net {net}")
    if values.get("container_ports"):
        raise InvalidInputError("container_ports", f"need net bridge, not {net}")


def _check_memory_swap(values: dict[str, Any]) -> None:
    """Docker's rule: a swap limit (memory plus swap) needs a memory limit no larger than it."""
    swap, memory = values.get("memory_swap"), values.get("memory")
    if swap is None or swap == UNLIMITED_SWAP:
        return
    if memory is None:
        raise InvalidInputError("memory_swap", "needs memory to be set as well")
    if swap < memory:
        raise InvalidInputError("memory_swap", f"must be at least memory ({memory} MB) or -1")


# --- scalar fields ---------------------------------------------------------------------------


def _image_name(field: str, value: Any) -> str:
    """The reference as stored, with `:latest` added to an untagged one (whose repo is at most
    255 characters, so it still fits the column). The length is checked before the pattern,
    which backtracks quadratically on a long enough string."""
    text = checks.at_most(field, checks.string(field, value), MAX_IMAGE_NAME)
    match = IMAGE_REFERENCE.fullmatch(text)
    if not text or match is None or len(match.group("name")) > 255:
        raise InvalidInputError(field, f"{text!r} is not a valid image reference (repo[:tag])")
    if match.group("tag") is None and match.group("digest") is None:
        text += ":latest"
    return text


def _name(field: str, value: Any) -> str | None:
    if value is None:
        return None
    text = checks.string(field, value)
    if not 1 <= len(text) <= MAX_NAME_LENGTH:
        raise InvalidInputError(field, f"must be 1 to {MAX_NAME_LENGTH} characters long")
    if not NAME.fullmatch(text):
        raise InvalidInputError(
            field,
            "may contain only letters, digits and _ . - and must start with a letter or digit",
        )
    return text


def _command(field: str, value: Any) -> str | None:
    if value is None:
        return None
    text = checks.utf8_bytes(field, checks.string(field, value), MAX_COMMAND_BYTES)
    try:
        shlex.split(text)
    except ValueError as exc:
        raise InvalidInputError(field, f"cannot be split into arguments ({exc})") from None
    return text


def _entrypoint(field: str, value: Any) -> str:
    return _command(field, "" if value is None else value) or ""


def _memory_swap(field: str, value: Any) -> int | None:
    if value == UNLIMITED_SWAP and not isinstance(value, bool):
        return UNLIMITED_SWAP
    megabytes: int | None = checks.int_range(*MEMORY_RANGE_MB, unit=" MB, or -1 for no limit")(
        field, value
    )
    return megabytes


def _cpuset(field: str, text: str) -> str:
    if not CPUSET.fullmatch(checks.at_most(field, text, MAX_CPUSET)):
        raise InvalidInputError(field, "must list CPUs like 0-2,4")
    for part in text.split(","):
        low, _, high = part.partition("-")
        if high and int(high) < int(low):
            raise InvalidInputError(field, f"range {part} runs backwards")
    return text


def _user(field: str, text: str) -> str:
    if not USER_SPEC.fullmatch(checks.at_most(field, text, MAX_USER)):
        raise InvalidInputError(field, "must be user or user:group (names or ids, no spaces)")
    return text


def _uts_name(field: str, text: str) -> str:
    return checks.domain(field, text, max_length=MAX_UTS_NAME)


def _mac_address(field: str, text: str) -> str:
    if not MAC_ADDRESS.fullmatch(text):
        raise InvalidInputError(field, "must be six hex pairs separated by colons")
    if int(text[:2], 16) & 1:
        raise InvalidInputError(field, "must be a unicast address (even first octet)")
    return text.lower()


# --- structured fields -----------------------------------------------------------------------


def _envvars(field: str, value: Any) -> list[dict[str, str]]:
    entries = checks.items(field, value, 'a list of {"key": ..., "value": ...} objects')
    _refuse_too_many(field, len(entries), MAX_ENVVARS, "variables")
    result = []
    for where, item in entries:
        checks.keys(where, item, required={"key", "value"})
        key, val = item["key"], item["value"]
        if not isinstance(key, str) or not ENV_KEY.fullmatch(key):
            raise InvalidInputError(where, f"key {key!r} is not a valid variable name")
        if not isinstance(val, str):
            raise InvalidInputError(where, "value must be a string")
        checks.utf8_bytes(where, val, MAX_ITEM_BYTES)
        result.append({"key": key, "value": val})
    checks.refuse_repeats(field, [var["key"] for var in result], "key {!r} is repeated")
    _refuse_too_big(field, [text for var in result for text in var.values()])
    return result


def _labels(field: str, value: Any) -> dict[str, str]:
    if value is None:  # the default, as null is for every other field
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(field, "must be an object of string keys to string values")
    _refuse_too_many(field, len(value), MAX_LABELS, "labels")
    for key, val in value.items():
        if not key or not isinstance(val, str):
            raise InvalidInputError(
                field, f"label {key!r} must have a non-empty key and a string value"
            )
        if key.startswith(LABEL_PREFIX):
            raise InvalidInputError(field, f"label {key!r} uses the reserved prefix {LABEL_PREFIX}")
        if len(key.encode()) > MAX_ITEM_BYTES or len(val.encode()) > MAX_ITEM_BYTES:
            raise InvalidInputError(
                field, f"label keys and values must be at most {MAX_ITEM_BYTES} bytes (in UTF-8)"
            )
    _refuse_too_big(field, [text for pair in value.items() for text in pair])
    return dict(value)


def _refuse_too_many(field: str, count: int, limit: int, what: str) -> None:
    if count > limit:
        raise InvalidInputError(field, f"must hold at most {limit} {what}, not {count}")


def _refuse_too_big(field: str, texts: list[str]) -> None:
    """All the keys and values of a field together stay under MAX_MAPPING_BYTES."""
    size = sum(len(text.encode()) for text in texts)
    if size > MAX_MAPPING_BYTES:
        raise InvalidInputError(
            field, f"keys and values must total at most {MAX_MAPPING_BYTES} bytes, not {size}"
        )


def _ports(field: str, value: Any) -> list[dict[str, Any]]:
    """`{protocol, inner_port, outer_port, published}` items. `published` defaults to true; an
    unpublished port is only exposed, so it cannot name an outer port. A null outer port on a
    published port lets Docker pick one."""
    ports = [
        _port(where, item) for where, item in checks.items(field, value, "a list of port objects")
    ]
    checks.refuse_repeats(
        field, [(p["inner_port"], p["protocol"]) for p in ports], "{0[0]}/{0[1]} is listed twice"
    )
    checks.refuse_repeats(
        field,
        [(p["outer_port"], p["protocol"]) if p["outer_port"] else None for p in ports],
        "outer port {0[0]}/{0[1]} is used twice",
    )
    return ports


def _port(where: str, item: Any) -> dict[str, Any]:
    checks.keys(
        where, item, required={"inner_port"}, optional={"protocol", "outer_port", "published"}
    )
    port_number = _port_number
    port = {
        "protocol": checks.member(where, item, "protocol", checks.choice(PROTOCOLS)),
        "inner_port": checks.member(where, item, "inner_port", checks.required(port_number)),
        "outer_port": checks.member(where, item, "outer_port", port_number),
        "published": checks.member(where, item, "published", checks.flag_default_true),
    }
    if port["outer_port"] is not None and not port["published"]:
        raise InvalidInputError(where, "an unpublished port cannot have an outer_port")
    return port


def _port_number(field: str, value: Any) -> int | None:
    """A port number, or the same number written in decimal digits: the old CLIs send the
    ports they parse from `-p 8080:80` as strings."""
    if isinstance(value, str) and PORT_DIGITS.fullmatch(value):
        value = int(value)
    return checks.int_range(*PORT_RANGE)(field, value)  # type: ignore[no-any-return]


def _bindings(field: str, value: Any) -> list[dict[str, Any]]:
    """`{host_path, container_path, rewritable, volume}` items: a host path (bind mount), a
    named volume, or neither (a fresh anonymous volume), never both."""
    bindings = [
        _binding(where, item) for where, item in checks.items(field, value, "a list of objects")
    ]
    checks.refuse_repeats(field, [b["container_path"] for b in bindings], "{} is bound twice")
    return bindings


def _binding(where: str, item: Any) -> dict[str, Any]:
    checks.keys(
        where, item, required={"container_path"}, optional={"host_path", "rewritable", "volume"}
    )
    binding = {
        "host_path": checks.member(where, item, "host_path", checks.optional(checks.path)),
        "container_path": checks.member(where, item, "container_path", _container_path),
        "rewritable": checks.member(where, item, "rewritable", checks.flag_default_true),
        "volume": checks.member(where, item, "volume", checks.optional(_volume_name)),
    }
    if binding["host_path"] is not None and binding["volume"] is not None:
        raise InvalidInputError(where, "give host_path or volume, not both")
    return binding


def _container_path(field: str, value: Any) -> str:
    path = checks.path(field, value)
    if path == "/":
        raise InvalidInputError(field, "cannot be /")
    return path


def _volume_name(field: str, value: Any) -> str:
    text = checks.string(field, value)
    if not VOLUME_NAME.fullmatch(text):
        raise InvalidInputError(
            field, "must be 2 to 128 letters, digits, _ . - starting with a letter or digit"
        )
    return text


def _ip_address(field: str, text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidInputError(field, f"{text!r} is not an IP address") from None


def _extra_host(field: str, text: str) -> str:
    """Docker's `host:ip` form; `host-gateway` stands for the host's own address."""
    host, sep, address = text.partition(":")
    if not sep:
        raise InvalidInputError(field, f"{text!r} must be host:ip")
    checks.domain(field, host)
    if address != "host-gateway":
        _ip_address(field, address)
    return text


def _capability(field: str, text: str) -> str:
    """Upper case without the CAP_ prefix, the form Docker shows; ALL stands for every one."""
    name = text.upper().removeprefix("CAP_")
    if name not in CAPABILITIES:
        raise InvalidInputError(field, f"{text!r} is not a Linux capability")
    return name


def _device(field: str, text: str) -> str:
    """Docker's `host_path[:container_path[:permissions]]`, permissions from r, w and m."""
    parts = text.split(":")
    if len(parts) > 3:
        raise InvalidInputError(field, f"{text!r} must be host_path[:container_path[:rwm]]")
    for path in parts[:2]:
        checks.absolute_path(field, path)
    if len(parts) == 3 and not (parts[2] and set(parts[2]) <= set("rwm")):
        raise InvalidInputError(field, f"permissions {parts[2]!r} must be made of r, w and m")
    return text


def _security_opt(field: str, text: str) -> str:
    """The forms Docker's daemon accepts (parseSecurityOpt): `no-new-privileges[=<bool>]` with
    Go's booleans, `label=` one of SELinux's label options, `apparmor=`/`seccomp=` a profile, or
    `systempaths=unconfined`; anything else would fail the container's start."""
    key, value = policy.split_security_opt(text)
    if key == policy.NO_NEW_PRIVILEGES:
        if value is None or value in policy.GO_TRUE | policy.GO_FALSE:
            return text
        raise InvalidInputError(field, f"{text!r}: no-new-privileges takes true or false")
    if key not in SECURITY_OPT_KEYS or not value:
        raise InvalidInputError(
            field, f"{text!r} must be key=value with key one of {', '.join(SECURITY_OPT_KEYS)}"
        )
    check = _SECURITY_OPT_VALUES.get(key)
    if check is not None and not check.fullmatch(value):
        raise InvalidInputError(field, f"{text!r} is not a {key} option Docker accepts")
    return text


# The values Docker checks itself; apparmor and seccomp name a profile, checked on the node.
_SECURITY_OPT_VALUES = {
    "label": re.compile(r"disable|nested|(user|role|type|level|filetype):\S+"),
    "systempaths": re.compile(r"unconfined"),
}


# --- placement (not stored: they choose the node) -----------------------------------------


def _node(field: str, value: Any) -> str:
    """A node's resource URI in either tree (`/api/v1/node/<uuid>/`,
    `/api/infra/v1/[ns/]node/<uuid>/`) or its bare uuid; the uuid is kept."""
    text = checks.string(field, value)
    parts = text.rstrip("/").split("/")
    if len(parts) > 1 and parts[-2] != "node":
        raise InvalidInputError(field, f"{text!r} is not a node resource URI or uuid")
    try:
        return str(uuid.UUID(parts[-1]))
    except ValueError:
        raise InvalidInputError(field, f"{text!r} is not a node resource URI or uuid") from None


def _tags(field: str, value: Any) -> list[str]:
    """Tag names, as strings or as the `{"name": ...}` objects nodes show them as; the node
    must have every one. Sorted, without repeats."""
    names = set()
    for where, item in checks.items(field, value):
        name = item.get("name") if isinstance(item, dict) and set(item) == {"name"} else item
        text = checks.string(where, name)
        if not TAG_NAME.fullmatch(text):
            raise InvalidInputError(
                where, f"{text!r} must be 1 to 64 letters, digits, _ . : - starting with one"
            )
        names.add(text)
    return sorted(names)


FIELD_CHECKS: dict[str, checks.Check] = {
    "image_name": _image_name,
    "name": _name,
    "run_command": _command,
    "entrypoint": _entrypoint,
    "working_dir": checks.text(checks.absolute_path),
    "container_envvars": _envvars,
    "container_ports": _ports,
    "labels": _labels,
    "memory": checks.int_range(*MEMORY_RANGE_MB, unit=" MB"),
    "memory_swap": _memory_swap,
    "cpu_shares": checks.int_range(*CPU_SHARES_RANGE),
    "cpuset": checks.text(_cpuset),
    "user": checks.text(_user),
    "hostname": checks.text(_uts_name),
    "domainname": checks.text(_uts_name),
    "mac_address": checks.text(_mac_address),
    "tty": checks.flag,
    "stdin_open": checks.flag,
    "read_only": checks.flag,
    "privileged": checks.flag,
    "dns": checks.string_list(_ip_address),
    "dns_search": checks.string_list(checks.domain),
    "extra_hosts": checks.string_list(_extra_host),
    "net": checks.choice(NET_MODES),
    "pid": checks.choice(PID_MODES),
    "cap_add": checks.string_list(_capability),
    "cap_drop": checks.string_list(_capability),
    "devices": checks.string_list(_device),
    "security_opt": checks.string_list(_security_opt),
    "bindings": _bindings,
    "autorestart": checks.choice(AUTORESTART_VALUES),
    "autodestroy": checks.choice(AUTODESTROY_VALUES),
    "node": checks.optional(_node),
    "tags": _tags,
}
CREATE_FIELDS = tuple(FIELD_CHECKS)
