"""Where the user CLI finds the API and its credentials: variables over the config file, a file
others may read refused, and a missing setting named with where to give it."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.client.config import ClientConfig, load_config
from controlplane.client.errors import ClientError


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_variables_are_enough_and_the_url_has_a_default(tmp_path: Path) -> None:
    env = {"CONTROLPLANE_CONFIG": str(tmp_path / "none.ini")}
    env |= {"CONTROLPLANE_USER": "alice", "CONTROLPLANE_APIKEY": "k"}
    assert load_config(env) == ClientConfig("http://127.0.0.1:8000", "alice", "k")


def test_the_file_fills_in_what_the_variables_leave_out(tmp_path: Path) -> None:
    ini = write(
        tmp_path / "client.ini",
        "[controlplane]\nurl = https://plane.example:8443/\nuser = bob\napikey = from-file\n",
    )
    env = {"CONTROLPLANE_CONFIG": str(ini), "CONTROLPLANE_APIKEY": "from-env"}
    assert load_config(env) == ClientConfig("https://plane.example:8443", "bob", "from-env")


def test_the_default_file_is_under_xdg_config_home(tmp_path: Path) -> None:
    (tmp_path / "controlplane").mkdir()
    write(tmp_path / "controlplane" / "client.ini", "[controlplane]\nuser = c\napikey = d\n")
    assert load_config({"XDG_CONFIG_HOME": str(tmp_path)}).user == "c"


def test_a_file_others_may_read_is_refused(tmp_path: Path) -> None:
    ini = write(tmp_path / "client.ini", "[controlplane]\nuser = a\napikey = b\n", 0o644)
    with pytest.raises(ClientError, match="others may read it; `chmod 600"):
        load_config({"CONTROLPLANE_CONFIG": str(ini)})


def test_what_is_missing_is_named_with_where_to_give_it(tmp_path: Path) -> None:
    env = {"CONTROLPLANE_CONFIG": str(tmp_path / "none.ini"), "CONTROLPLANE_USER": "a"}
    with pytest.raises(ClientError) as raised:
        load_config(env)
    expected = "set CONTROLPLANE_APIKEY, or apikey in the [controlplane] section"
    assert expected in raised.value.message


@pytest.mark.parametrize("text", ["[controlplane\nuser=a", "\xff\xfe garbage"])
def test_a_file_that_is_not_ini_is_one_sentence(tmp_path: Path, text: str) -> None:
    ini = tmp_path / "client.ini"
    ini.write_bytes(text.encode("latin-1"))
    ini.chmod(0o600)
    with pytest.raises(ClientError, match="is not an INI file"):
        load_config({"CONTROLPLANE_CONFIG": str(ini)})


def test_a_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    env = {"CONTROLPLANE_CONFIG": str(tmp_path / "x"), "CONTROLPLANE_USER": "a"}
    env |= {"CONTROLPLANE_APIKEY": "b", "CONTROLPLANE_URL": "127.0.0.1:8000"}
    with pytest.raises(ClientError, match="must be an http:// or https:// URL"):
        load_config(env)
