"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): their text is checked to stay valid,
complete for production and in step with the code."""

import re
from pathlib import Path

import yaml

from workers.cli.production_env import TO_FILL_IN, generated_secrets
from workflows.search_attributes import cli_search_attribute_types

ROOT = Path(__file__).parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LONG_RUNNING = [name for name, s in SERVICES.items() if s.get("restart") == "unless-stopped"]
ONE_SHOTS = [name for name, s in SERVICES.items() if s.get("restart") == "no"]
PARCOURS_IMAGE = "parcours-rsa:latest"


def required(value: str) -> str | None:
    """The variable of a ``${VAR:?...}`` reference (compose refuses to start while it is unset or empty)."""
    match = re.fullmatch(r"\$\{([A-Z0-9_]+):\?[^}]*\}", value)
    return match.group(1) if match else None


def test_compose_pins_the_server_and_ui_matching_the_dev_server():
    assert SERVICES["temporal"]["image"] == "temporalio/server:1.32"
    assert SERVICES["temporal"]["environment"]["DB"] == "postgres12"
    assert SERVICES["temporal-ui"]["image"].startswith("temporalio/ui:2.54")
    assert SERVICES["temporal-schema"]["image"].startswith("temporalio/admin-tools")
    assert "auto-setup" not in yaml.safe_dump(COMPOSE)


def test_compose_registers_every_search_attribute_of_the_code():
    command = " ".join(SERVICES["temporal-namespace"]["command"])
    for name, kind in cli_search_attribute_types().items():
        assert f"--name {name} --type {kind}" in command


def test_compose_workers_are_configured_by_environment():
    env = SERVICES["parcours-worker"]["environment"]
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "DATABASE_URL"):
        assert var in env
    assert SERVICES["parcours-worker"]["command"] == ["parcours", "worker"]


def test_temporal_frontend_is_not_published_and_lives_on_the_internal_network_only():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert "7233" not in str(port), f"{name} publishes Temporal's frontend"
            assert str(port).split(":")[-1] in ("8080", "8000", "8081"), f"{name} publishes {port}"
    assert "ports" not in SERVICES["temporal"] and "ports" not in SERVICES["postgresql"]
    networks = COMPOSE["networks"]
    for name in ("temporal", "postgresql"):
        assert SERVICES[name]["networks"] == ["backend"]
    assert networks["backend"]["internal"] is True
    for name, service in SERVICES.items():  # every service names its networks: none falls back to a default one
        assert service.get("networks"), name
        if "ports" in service:
            assert any(not (networks[n] or {}).get("internal") for n in service["networks"]), name


def test_web_ui_requires_an_oidc_login():
    env = SERVICES["temporal-ui"]["environment"]
    assert env["TEMPORAL_AUTH_ENABLED"] == "true" and env["TEMPORAL_AUTH_TYPE"] == "oidc"
    for var in ("TEMPORAL_AUTH_PROVIDER_URL", "TEMPORAL_AUTH_CLIENT_ID", "TEMPORAL_AUTH_CLIENT_SECRET"):
        assert required(env[var]) == var
    assert env["TEMPORAL_AUTH_CALLBACK_URL"].endswith("/auth/sso/callback")
    assert required(env["TEMPORAL_AUTH_CALLBACK_URL"].removesuffix("/auth/sso/callback")) == "PARCOURS_UI_URL"
    assert "openid" in env["TEMPORAL_AUTH_SCOPES"].split(",")
    assert required(env["TEMPORAL_CODEC_ENDPOINT"]) == "PARCOURS_CODEC_URL"


def test_every_parcours_service_of_issue_17_is_there():
    api, codec, schedule = SERVICES["parcours-api"], SERVICES["parcours-codec"], SERVICES["parcours-schedule"]
    assert api["command"][:2] == ["parcours", "api"] and "0.0.0.0" in api["command"]
    assert codec["command"][:2] == ["parcours", "codec-server"]
    assert schedule["command"] == ["parcours", "schedule", "install"] and schedule["restart"] == "no"
    assert schedule["depends_on"]["temporal-namespace"]["condition"] == "service_completed_successfully"
    for name in ("parcours-api", "parcours-codec", "parcours-schedule", "parcours-worker", "parcours-migrate"):
        assert SERVICES[name]["image"] == PARCOURS_IMAGE
    assert required(SERVICES["parcours-worker"]["environment"]["MONJOB62_URL"]) == "MONJOB62_URL"
    assert required(SERVICES["parcours-worker"]["environment"]["MONJOB62_TOKEN"]) == "MONJOB62_TOKEN"


def test_the_drop_directory_is_a_volume_the_worker_and_the_schedule_share():
    assert "parcours-drop" in COMPOSE["volumes"]
    for name in ("parcours-worker", "parcours-schedule"):
        service = SERVICES[name]
        drop_dir = service["environment"]["PARCOURS_DROP_DIR"]
        assert f"parcours-drop:{drop_dir}" in service["volumes"], name
    assert "PARCOURS_DROP_DIR=/var/lib/parcours/drop" in DOCKERFILE


def test_services_start_with_their_secrets_required():
    needs = {
        "parcours-worker": {"PARCOURS_PERSON_ID_SECRET", "PARCOURS_ENCRYPTION_KEYS"},
        "parcours-api": {"PARCOURS_PERSON_ID_SECRET", "PARCOURS_ENCRYPTION_KEYS", "PARCOURS_API_TOKENS"},
        "parcours-codec": {"PARCOURS_ENCRYPTION_KEYS", "PARCOURS_CODEC_TOKENS"},
    }
    for name, variables in needs.items():
        env = SERVICES[name]["environment"]
        assert {v for v in variables if required(env.get(v, "")) == v} == variables, name
    # The codec server never holds the person-id secret: it has no use for it.
    assert "PARCOURS_PERSON_ID_SECRET" not in SERVICES["parcours-codec"]["environment"]


def test_every_required_variable_is_written_by_parcours_keys_env():
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_TEXT))
    provided = set(generated_secrets(["integration"], ["ops"])) | {name for name, _ in TO_FILL_IN}
    assert referenced - provided == set()
    assert "MONJOB62_URL" in referenced and "TEMPORAL_AUTH_CLIENT_SECRET" in referenced


def test_long_running_services_have_health_checks_and_resource_limits():
    assert set(LONG_RUNNING) >= {"postgresql", "temporal", "temporal-ui", "parcours-worker", "parcours-api",
                                 "parcours-codec"}
    for name in LONG_RUNNING:
        service = SERVICES[name]
        assert service["healthcheck"]["test"], name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["cpus"] and limits["memory"], name
    for name in ONE_SHOTS:
        assert SERVICES[name]["deploy"]["resources"]["limits"]["memory"], name
    for name in ("parcours-worker", "parcours-api", "parcours-codec"):
        check = " ".join(SERVICES[name]["healthcheck"]["test"])
        assert "127.0.0.1" in check  # the worker's metrics answer on loopback only (PARCOURS_METRICS_HOST)
    assert "9464" in " ".join(SERVICES["parcours-worker"]["healthcheck"]["test"])
    assert SERVICES["parcours-worker"]["environment"]["PARCOURS_METRICS_PORT"] == "9464"


def test_dockerfile_runs_as_an_unprivileged_user_with_the_locked_dependencies():
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^COPY .*\brequirements\.lock\b", DOCKERFILE, flags=re.M)
    assert re.search(r"pip install [^\n]*-c requirements\.lock", DOCKERFILE)
    assert "useradd --system --uid 10001" in DOCKERFILE and users[-1] == "10001"
    assert "-m 0700 /var/lib/parcours /var/lib/parcours/drop" in DOCKERFILE
