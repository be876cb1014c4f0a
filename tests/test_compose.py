"""docker-compose.yml cannot run here (no Docker engine); keep it valid and in step with the code."""

from pathlib import Path

import yaml

from workflows.search_attributes import cli_search_attribute_types

COMPOSE = yaml.safe_load((Path(__file__).parent.parent / "docker-compose.yml").read_text())


def test_compose_pins_the_server_and_ui_matching_the_dev_server():
    services = COMPOSE["services"]
    assert services["temporal"]["image"] == "temporalio/server:1.32"
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:2.54")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools")
    assert "auto-setup" not in yaml.safe_dump(COMPOSE)


def test_compose_registers_every_search_attribute_of_the_code():
    command = " ".join(COMPOSE["services"]["temporal-namespace"]["command"])
    for name, kind in cli_search_attribute_types().items():
        assert f"--name {name} --type {kind}" in command


def test_compose_workers_are_configured_by_environment():
    env = COMPOSE["services"]["parcours-worker"]["environment"]
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "DATABASE_URL"):
        assert var in env
    assert COMPOSE["services"]["parcours-worker"]["command"] == ["parcours", "worker"]
