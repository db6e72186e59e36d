"""The import-linter contracts keep up with the package: a module added to controlplane is either
part of the core or forbidden to the agent, never silently allowed."""

from __future__ import annotations

import configparser
import pkgutil
from pathlib import Path

import controlplane

SETUP_CFG = Path(__file__).resolve().parents[2] / "setup.cfg"


def contract(name: str) -> configparser.SectionProxy:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    return config[f"importlinter:contract:{name}"]


def test_every_module_of_controlplane_but_the_core_is_forbidden_to_the_agent() -> None:
    forbidden = set(contract("agent-sees-only-core")["forbidden_modules"].split())
    modules = {f"controlplane.{info.name}" for info in pkgutil.iter_modules(controlplane.__path__)}
    assert "controlplane.core" in modules
    assert modules - {"controlplane.core"} <= forbidden


def test_the_layers_contract_names_the_layers_top_down() -> None:
    layers = contract("layers")["layers"].split("\n")
    assert [layer.strip() for layer in layers if layer.strip()] == [
        "api | reporter",
        "stackcontrol",
        "servicecontrol",
        "operations | servicedefinition",
        "db",
        "core",
    ]
