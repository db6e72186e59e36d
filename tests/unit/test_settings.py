"""Settings of both sides, parsed from explicit environments; the agent's token."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.core.environment import SettingsError, env_int
from controlplane.core.signing import NodeToken
from controlplane.settings import Settings
from workers.settings import AgentSettings

INT_SETTINGS = [
    "CONTROLPLANE_NODE_TIMEOUT",
    "CONTROLPLANE_STOP_TIMEOUT",
    "CONTROLPLANE_PAGE_SIZE",
    "CONTROLPLANE_MAX_PAGE_SIZE",
    "CONTROLPLANE_VISIBILITY_TIMEOUT",
    "CONTROLPLANE_MAX_STREAMS_PER_USER",
    "CONTROLPLANE_REQUEST_READ_TIMEOUT",
]


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.database_url == "sqlite:///controlplane.db"
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert (settings.page_size, settings.max_page_size) == (25, 1000)
    assert (settings.node_timeout, settings.stop_timeout) == (10, 10)
    assert settings.visibility_timeout == 3600
    assert settings.node_grace == 15
    assert settings.max_streams_per_user == 10
    assert settings.request_read_timeout == 10


def test_every_setting_can_be_overridden() -> None:
    settings = Settings.from_env(
        {
            "CONTROLPLANE_DATABASE_URL": "postgresql://cp@db/cp",
            "CONTROLPLANE_BROKER_URL": "redis://broker:6379/3",
            "CONTROLPLANE_NODE_TIMEOUT": "3",
            "CONTROLPLANE_STOP_TIMEOUT": "0",
            "CONTROLPLANE_PAGE_SIZE": "7",
            "CONTROLPLANE_MAX_PAGE_SIZE": "50",
            "CONTROLPLANE_VISIBILITY_TIMEOUT": "60",
            "CONTROLPLANE_NODE_GRACE": "6",
            "CONTROLPLANE_ORPHANS": "report",
            "CONTROLPLANE_ORPHAN_GRACE": "5",
            "CONTROLPLANE_MAX_STREAMS_PER_USER": "3",
            "CONTROLPLANE_REQUEST_READ_TIMEOUT": "2",
            "UNRELATED": "ignored",
        }
    )
    assert settings == Settings(
        database_url="postgresql://cp@db/cp",
        broker_url="redis://broker:6379/3",
        node_timeout=3,
        stop_timeout=0,
        page_size=7,
        max_page_size=50,
        visibility_timeout=60,
        node_grace=6,
        orphans="report",
        orphan_grace=5,
        max_streams_per_user=3,
        request_read_timeout=2,
    )


def test_orphans_are_removed_by_default_and_a_bad_policy_stops_start_up() -> None:
    assert (Settings().orphans, Settings().orphan_grace) == ("remove", 60)
    with pytest.raises(SettingsError, match="CONTROLPLANE_ORPHANS"):
        Settings.from_env({"CONTROLPLANE_ORPHANS": "delete"})


def test_no_dangerous_option_is_allowed_by_default() -> None:
    assert Settings.from_env({}).allow_dangerous == frozenset()


def test_the_allowed_dangerous_options_are_read() -> None:
    settings = Settings.from_env({"CONTROLPLANE_ALLOW_DANGEROUS": "privileged, net_host"})
    assert settings.allow_dangerous == {"privileged", "net_host"}
    everything = Settings.from_env({"CONTROLPLANE_ALLOW_DANGEROUS": "all"}).allow_dangerous
    assert "host_bindings" in everything and "security_opt" in everything


def test_an_unknown_dangerous_option_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_ALLOW_DANGEROUS: unknown option 'root'"):
        Settings.from_env({"CONTROLPLANE_ALLOW_DANGEROUS": "privileged,root"})


def test_empty_values_fall_back_to_the_defaults() -> None:
    environ = {name: "" for name in INT_SETTINGS}
    environ["CONTROLPLANE_DATABASE_URL"] = ""
    assert Settings.from_env(environ) == Settings()


def test_without_an_argument_the_process_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTROLPLANE_PAGE_SIZE", "9")
    assert Settings.from_env().page_size == 9


@pytest.mark.parametrize("name", INT_SETTINGS)
@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10"])
def test_a_malformed_integer_is_refused_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name) as refused:
        Settings.from_env({name: raw})
    assert repr(raw) in str(refused.value)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("CONTROLPLANE_PAGE_SIZE", "0"),
        ("CONTROLPLANE_NODE_TIMEOUT", "0"),
        ("CONTROLPLANE_STOP_TIMEOUT", "-1"),
        ("CONTROLPLANE_VISIBILITY_TIMEOUT", "59"),
        ("CONTROLPLANE_MAX_STREAMS_PER_USER", "0"),
        ("CONTROLPLANE_REQUEST_READ_TIMEOUT", "0"),
    ],
)
def test_an_integer_below_its_minimum_is_refused(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=f"{name} must be at least"):
        Settings.from_env({name: raw})


def test_env_int_accepts_surrounding_whitespace_and_signs() -> None:
    assert env_int({"X": " 12 "}, "X", 1) == 12
    assert env_int({"X": "+3"}, "X", 1) == 3


def test_the_secret_key_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    key = "k" * 32
    assert Settings.from_env({"CONTROLPLANE_SECRET_KEY": key}).require_secret_key() == key.encode()
    path = tmp_path / "secret"
    path.write_text(key + "\n")
    from_file = Settings.from_env({"CONTROLPLANE_SECRET_KEY_FILE": str(path)})
    assert from_file.require_secret_key() == key.encode()
    assert key not in repr(from_file)


def test_the_per_user_caps_default_and_are_read() -> None:
    assert (Settings().max_containers_per_user, Settings().creates_per_minute) == (500, 120)
    env = {"CONTROLPLANE_MAX_CONTAINERS_PER_USER": "7", "CONTROLPLANE_CREATES_PER_MINUTE": "9"}
    settings = Settings.from_env(env)
    assert (settings.max_containers_per_user, settings.creates_per_minute) == (7, 9)
    with pytest.raises(SettingsError, match="CONTROLPLANE_CREATES_PER_MINUTE"):
        Settings.from_env({"CONTROLPLANE_CREATES_PER_MINUTE": "0"})


def test_a_short_secret_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"CONTROLPLANE_SECRET_KEY": "short"})


def test_nothing_that_talks_to_nodes_runs_without_a_secret_key() -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_SECRET_KEY"):
        Settings.from_env({}).require_secret_key()


# --- agent -----------------------------------------------------------------------------------


# A fixed uuid: the tests are parametrized with it, and xdist workers must collect the same ids.
TOKEN = NodeToken(node_uuid="3f2c6d1e-8a4b-4c1d-9e7f-0a1b2c3d4e5f", key=bytes(range(32)))


def agent_env(**extra: str) -> dict[str, str]:
    return {"CONTROLPLANE_AGENT_TOKEN": str(TOKEN), **extra}


def test_the_agents_identity_is_its_token() -> None:
    settings = AgentSettings.from_env(agent_env())
    assert (settings.node_uuid, settings.token) == (TOKEN.node_uuid, TOKEN)
    assert TOKEN.key.hex() not in repr(settings)


def test_the_token_may_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    settings = AgentSettings.from_env({"CONTROLPLANE_AGENT_TOKEN_FILE": str(path)})
    assert settings.token == TOKEN


def test_an_agent_without_a_token_does_not_start() -> None:
    with pytest.raises(SettingsError, match="controlplane node add"):
        AgentSettings.from_env({})


@pytest.mark.parametrize(
    "token",
    ["nonsense", f"cpn1.{TOKEN.node_uuid}", "cpn1.not-a-uuid.AAAA", f"cpn1.{TOKEN.node_uuid}.AAAA"],
)
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_AGENT_TOKEN"):
        AgentSettings.from_env({"CONTROLPLANE_AGENT_TOKEN": token})


def test_a_missing_token_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_AGENT_TOKEN_FILE"):
        AgentSettings.from_env({"CONTROLPLANE_AGENT_TOKEN_FILE": str(tmp_path / "absent")})


def test_agent_defaults(tmp_path: Path) -> None:
    settings = AgentSettings.from_env(agent_env())
    assert settings.pull == "never"
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.docker_url == "unix:///var/run/docker.sock"
    assert (settings.concurrency, settings.heartbeat_interval) == (8, 5)
    assert settings.publish_ip == "127.0.0.1"
    assert settings.tags == ()


def test_agent_overrides(tmp_path: Path) -> None:
    settings = AgentSettings.from_env(
        agent_env(
            CONTROLPLANE_AGENT_PULL="missing",
            CONTROLPLANE_AGENT_BROKER_URL="redis://broker/1",
            CONTROLPLANE_AGENT_DOCKER_URL="tcp://127.0.0.1:2375",
            CONTROLPLANE_AGENT_CONCURRENCY="2",
            CONTROLPLANE_AGENT_HEARTBEAT_INTERVAL="1",
            CONTROLPLANE_AGENT_PUBLISH_IP="0.0.0.0",
            CONTROLPLANE_AGENT_TAGS=" ssd,eu-west ,, ssd",
        )
    )
    assert settings.publish_ip == "0.0.0.0"
    assert settings.tags == ("eu-west", "ssd")
    assert settings.pull == "missing"
    assert settings.broker_url == "redis://broker/1"
    assert settings.docker_url == "tcp://127.0.0.1:2375"
    assert (settings.concurrency, settings.heartbeat_interval) == (2, 1)


@pytest.mark.parametrize("pull", ["always", "MISSING", "yes"])
def test_an_unknown_pull_policy_is_refused(tmp_path: Path, pull: str) -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_AGENT_PULL"):
        AgentSettings.from_env(agent_env(CONTROLPLANE_AGENT_PULL=pull))


def test_a_malformed_agent_integer_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_AGENT_CONCURRENCY"):
        AgentSettings.from_env(agent_env(CONTROLPLANE_AGENT_CONCURRENCY="many"))


@pytest.mark.parametrize("address", ["localhost", "127.0.0", "10.0.0.1:80"])
def test_a_publish_address_that_is_not_an_ip_is_refused(tmp_path: Path, address: str) -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_AGENT_PUBLISH_IP"):
        AgentSettings.from_env(agent_env(CONTROLPLANE_AGENT_PUBLISH_IP=address))


@pytest.mark.parametrize("tags", ["ok,bad tag", "-leading", "a" * 65])
def test_a_malformed_agent_tag_is_refused(tmp_path: Path, tags: str) -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_AGENT_TAGS"):
        AgentSettings.from_env(agent_env(CONTROLPLANE_AGENT_TAGS=tags))
