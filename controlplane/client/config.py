"""Where the client finds the API and its credentials.

Each of the three settings is read from its variable (`CONTROLPLANE_URL`, `CONTROLPLANE_USER`,
`CONTROLPLANE_APIKEY`) or, when that is unset, from the `[controlplane]` section of an INI file:
`$CONTROLPLANE_CONFIG`, else `$XDG_CONFIG_HOME/controlplane/client.ini` (`~/.config/...`). The
variables win so that one command can aim elsewhere without editing the file. The file holds a
secret: one that others may read is refused, as ssh refuses such a key.
"""

from __future__ import annotations

import configparser
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controlplane.client.errors import ClientError

DEFAULT_URL = "http://127.0.0.1:8000"
SECTION = "controlplane"
VARIABLES = {
    "url": "CONTROLPLANE_URL",
    "user": "CONTROLPLANE_USER",
    "apikey": "CONTROLPLANE_APIKEY",
}


@dataclass(frozen=True)
class ClientConfig:
    url: str
    user: str
    apikey: str

    @property
    def authorization(self) -> str:
        return f"ApiKey {self.user}:{self.apikey}"


def config_path(environ: Mapping[str, str]) -> Path:
    if environ.get("CONTROLPLANE_CONFIG"):
        return Path(environ["CONTROLPLANE_CONFIG"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "controlplane" / "client.ini"


def _read_file(path: Path) -> Mapping[str, str]:
    if not path.exists():
        return {}
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ClientError(
            f"{path} holds an API key and others may read it; `chmod 600 {path}` first"
        )
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ClientError(f"{path} is not an INI file: {exc}") from None
    return parser[SECTION] if parser.has_section(SECTION) else {}


def load_config(environ: Mapping[str, str] = os.environ) -> ClientConfig:
    """The settings, failing with what is missing and where it may be given."""
    path = config_path(environ)
    from_file = _read_file(path)
    values = {key: environ.get(name) or from_file.get(key, "") for key, name in VARIABLES.items()}
    missing = [key for key in ("user", "apikey") if not values[key]]
    if missing:
        raise ClientError(
            f"set {' and '.join(VARIABLES[key] for key in missing)}, or {' and '.join(missing)} "
            f"in the [{SECTION}] section of {path}; the operator's `controlplane user create "
            "NAME` prints a key"
        )
    url = (values["url"] or DEFAULT_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"CONTROLPLANE_URL must be an http:// or https:// URL, got {url!r}")
    return ClientConfig(url=url, user=values["user"], apikey=values["apikey"])
