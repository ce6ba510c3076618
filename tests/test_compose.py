"""docker-compose.gpu.yml and docker-compose.cpu.yml, checked by parsing them (no Docker engine on CI
machines, RUNTIME.md); their Prometheus configurations by ``promtool`` when it is installed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.settings import environment_variables

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.gpu.yml"
CPU_COMPOSE_FILE = ROOT / "docker-compose.cpu.yml"
SETTING_NAMES = environment_variables()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module", params=[COMPOSE_FILE, CPU_COMPOSE_FILE], ids=["gpu", "cpu"])
def any_compose(request: pytest.FixtureRequest) -> dict:
    """Each compose file in turn, for the checks every file must pass."""
    return yaml.safe_load(request.param.read_text())


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _depends_on(service: dict) -> dict[str, dict]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: {"condition": "service_started"} for name in depends}
    return depends


def _one_shot(services: dict) -> set[str]:
    """Jobs other services wait to complete (bucket creation): they need no healthcheck."""
    return {
        name
        for service in services.values()
        for name, spec in _depends_on(service).items()
        if spec.get("condition") == "service_completed_successfully"
    }


def test_the_stack_has_its_services(services: dict) -> None:
    assert {"triton", "redis", "postgres", "minio", "control-plane", "worker"} <= set(services)


def test_triton_serves_the_model_repository_on_a_gpu(services: dict) -> None:
    triton = services["triton"]
    image = triton.get("image", "")
    build = triton.get("build") or {}
    if build:
        dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), dockerfile
        assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\S+-py3", dockerfile.read_text(), re.M)
    else:
        assert image.startswith("nvcr.io/nvidia/tritonserver:")

    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in triton["volumes"]}
    assert "./model_repository" in mounts
    repository_in_container = mounts["./model_repository"]
    command = " ".join(triton["command"]) if isinstance(triton["command"], list) else triton["command"]
    assert f"--model-repository={repository_in_container}" in command
    # The Python-backend models import triton_models: the project code is on PYTHONPATH.
    python_path = _environment(triton)["PYTHONPATH"].split(":")
    assert any(mounts.get("./triton_models", "").startswith(p.rstrip("/") + "/") for p in python_path) or any(
        mounts.get(".") == p for p in python_path
    )
    assert any(not source.startswith(".") for source in mounts), "a models volume for larger weights"

    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)


def test_control_plane_points_at_the_services(services: dict) -> None:
    plane = services["control-plane"]
    env = _environment(plane)
    tandem_names = {name for name in env if name.startswith("TANDEM_")}
    assert tandem_names <= SETTING_NAMES, f"unknown settings: {tandem_names - SETTING_NAMES}"

    assert env["TANDEM_TRITON_GRPC_URL"] == "triton:8001"
    assert env["TANDEM_REDIS_URL"].startswith("redis://redis:")
    assert env["TANDEM_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["TANDEM_DATABASE_URL"]
    assert env["TANDEM_STORAGE_URL"] == "s3://tandem"
    assert env["TANDEM_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["TANDEM_START_REDIS"].lower() == "false"
    assert env["TANDEM_HOST"] == "0.0.0.0"
    assert "AWS_ACCESS_KEY_ID" in env and "AWS_SECRET_ACCESS_KEY" in env

    command = " ".join(plane["command"]) if isinstance(plane["command"], list) else plane["command"]
    assert "tandem serve" in command
    assert {"triton", "redis", "postgres", "minio"} <= set(_depends_on(plane))


def test_settings_in_the_environment_parse(services: dict) -> None:
    """The control plane's settings load from the compose environment (interpolation defaults applied)."""
    from core.settings import load_settings

    env = {
        key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
        for key, value in _environment(services["control-plane"]).items()
    }
    settings = load_settings(env)
    assert settings.start_redis is False
    assert settings.port == 8000


def test_worker_runs_the_job_queue_of_the_control_plane(services: dict) -> None:
    worker = services["worker"]
    command = " ".join(worker["command"]) if isinstance(worker["command"], list) else worker["command"]
    assert command == "tandem worker"
    environment = _environment(worker)
    assert environment == _environment(services["control-plane"])  # same queue, database, store, Triton
    assert environment["TANDEM_QUEUE_NAME"] and environment["TANDEM_TRITON_GRPC_URL"] == "triton:8001"


def test_bucket_is_created(services: dict) -> None:
    jobs = _one_shot(services)
    assert jobs, "a one-shot job creates the bucket"
    script = " ".join(str(part) for name in jobs for part in (services[name].get("entrypoint") or []))
    assert "mc mb" in script and "tandem" in script


def test_every_long_running_service_has_a_healthcheck(any_compose: dict) -> None:
    services = any_compose["services"]
    for name, service in services.items():
        if name in _one_shot(services):
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_depends_on_targets_exist(any_compose: dict) -> None:
    services = any_compose["services"]
    for name, service in services.items():
        for target, spec in _depends_on(service).items():
            assert target in services, f"{name} depends on undefined {target}"
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}'s missing healthcheck"


def test_named_volumes_are_declared(any_compose: dict) -> None:
    services = any_compose["services"]
    declared = set(any_compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_control_plane_image_installs_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu \. ", dockerfile, re.M)


_SECRET_NAME = re.compile(r"PASSWORD|SECRET|ROOT_USER|ACCESS_KEY|^POSTGRES_USER$")
_REQUIRED_VARIABLE = re.compile(r"^\$\{(\w+):\?[^}]*\}$")


def test_secrets_come_from_the_env_file_without_defaults(services: dict) -> None:
    """Every credential is a required ``${VAR:?...}`` (compose reads it from .env); none is written in the YAML."""
    env_example = (ROOT / "deploy" / "tandem.env.example").read_text()
    for name, service in services.items():
        for key, value in _environment(service).items():
            if _SECRET_NAME.search(key):
                match = _REQUIRED_VARIABLE.match(value)
                assert match, f"{name}: {key}={value!r} is not a required variable from the env file"
                assert re.search(rf"^{match.group(1)}=", env_example, re.M), f"{match.group(1)} not in the example"
    database_url = _environment(services["control-plane"])["TANDEM_DATABASE_URL"]
    assert ":-" not in database_url.split("@")[0], "the database credentials have no default"


def _published_where_the_operator_chooses(services: dict) -> None:
    """Only the API and the monitoring UIs (Grafana, Prometheus) are published, each on loopback unless
    the operator's variable says otherwise."""
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    allowed = {"control-plane": 8000, "grafana": 3000, "prometheus": 9090}
    assert set(published) <= set(allowed), f"published besides the API: {set(published) - set(allowed)}"
    assert "control-plane" in published
    for name, ports in published.items():
        (mapping,) = ports
        port = allowed[name]
        assert re.match(rf"^\$\{{\w+:-127\.0\.0\.1:{port}\}}:{port}$", str(mapping)), (name, mapping)


def test_only_the_api_is_published_where_the_operator_chooses(services: dict) -> None:
    _published_where_the_operator_chooses(services)
    assert "--console-address" not in " ".join(services["minio"]["command"])


def test_keys_are_on_and_every_worker_signs_with_one_secret(services: dict) -> None:
    plane, worker = _environment(services["control-plane"]), _environment(services["worker"])
    assert plane["TANDEM_AUTH"] == "keys"
    assert _REQUIRED_VARIABLE.match(plane["TANDEM_WEBHOOK_SECRET"])
    assert worker["TANDEM_WEBHOOK_SECRET"] == plane["TANDEM_WEBHOOK_SECRET"]


# --- monitoring: Prometheus with the alert rules, Grafana with the dashboard ---------------------


def _mounts(service: dict) -> dict[str, str]:
    """Host path → container path of the service's bind mounts."""
    return {
        volume.split(":")[0]: volume.split(":")[1] for volume in service.get("volumes") or [] if volume.startswith(".")
    }


def _scrape_targets(prometheus_config: dict) -> dict[str, list[str]]:
    """Job name → ``host:port`` targets (static ones, and DNS names with their port)."""
    targets: dict[str, list[str]] = {}
    for job in prometheus_config["scrape_configs"]:
        found = [target for static in job.get("static_configs", []) for target in static["targets"]]
        found += [f"{name}:{dns['port']}" for dns in job.get("dns_sd_configs", []) for name in dns["names"]]
        targets[job["job_name"]] = found
    return targets


def _monitoring(services: dict) -> dict[str, list[str]]:
    """Checks Prometheus and Grafana are wired to the repository's files; Prometheus' scrape targets."""
    prometheus, grafana = services["prometheus"], services["grafana"]
    mounts = _mounts(prometheus)
    command = " ".join(prometheus["command"])
    config_path = re.search(r"--config\.file=(\S+)", command).group(1)
    config_file = next(ROOT / source for source, target in mounts.items() if target == config_path)
    config = yaml.safe_load(config_file.read_text())
    for rule_file in config["rule_files"]:
        source = next(source for source, target in mounts.items() if target == rule_file)
        assert (ROOT / source).resolve() == (ROOT / "deploy/prometheus/alerts.yml").resolve()
    (control_plane_job,) = [job for job in config["scrape_configs"] if job["job_name"] == "tandem"]
    key_file = Path(control_plane_job["authorization"]["credentials_file"])  # /metrics from another host: admin
    assert str(key_file.parent) in mounts.values(), "the key Prometheus presents is mounted from the host"

    grafana_mounts = _mounts(grafana)
    provisioning = ROOT / next(s for s, t in grafana_mounts.items() if t == "/etc/grafana/provisioning")
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["uid"] == "prometheus"
    dashboards = yaml.safe_load((provisioning / "dashboards/tandem.yml").read_text())["providers"][0]
    dashboard_dir = ROOT / next(s for s, t in grafana_mounts.items() if t == dashboards["options"]["path"])
    assert (dashboard_dir / "tandem.json").is_file()
    return _scrape_targets(config)


def test_gpu_stack_is_monitored(services: dict) -> None:
    """Prometheus scrapes the control plane, every worker on its metrics port, and Triton on its metrics port."""
    targets = _monitoring(services)
    worker_port = _environment(services["worker"])["TANDEM_WORKER_METRICS_PORT"]
    triton_port = re.search(r"--metrics-port=(\d+)", " ".join(services["triton"]["command"])).group(1)
    assert targets == {
        "tandem": ["control-plane:8000"],
        "tandem-worker": [f"worker:{worker_port}"],
        "triton": [f"triton:{triton_port}"],
    }


def test_cpu_stack_runs_without_a_gpu_and_is_monitored() -> None:
    services = yaml.safe_load(CPU_COMPOSE_FILE.read_text())["services"]
    assert {"control-plane", "redis", "prometheus", "grafana"} <= set(services)
    assert all("deploy" not in service for service in services.values()), "no GPU reservation"
    plane = services["control-plane"]
    assert " ".join(plane["command"]) == "tandem serve"
    env = _environment(plane)
    assert {name for name in env if name.startswith("TANDEM_")} <= SETTING_NAMES
    assert env["TANDEM_HOST"] == "0.0.0.0" and int(env["TANDEM_WORKERS"]) > 0
    assert env["TANDEM_AUTH"] == "keys", "tandem serve refuses auth off on a non-loopback address"
    _published_where_the_operator_chooses(services)
    triton_target = f"control-plane:{env['TANDEM_TRITON_METRICS_PORT']}"
    assert _monitoring(services) == {"tandem": ["control-plane:8000"], "triton": [triton_target]}


@pytest.mark.parametrize("config_name", ["prometheus.yml", "prometheus-cpu.yml"])
def test_prometheus_configurations_and_rules_pass_promtool(config_name: str, tmp_path: Path) -> None:
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus; scripts/setup.sh does)")
    deploy = ROOT / "deploy/prometheus"
    config = yaml.safe_load((deploy / config_name).read_text())
    config["rule_files"] = [str(deploy / "alerts.yml")]
    (tmp_path / "tandem-metrics.key").write_text("tk_example\n")  # what the operator writes into keys/
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(tmp_path / "tandem-metrics.key")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_panels_read_the_provisioned_data_source() -> None:
    """Every query panel of the shipped dashboard reads Prometheus by the uid Grafana provisions."""
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/tandem.json").read_text())
    provisioned = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert panels and len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
        assert all(target["datasource"]["uid"] == uid and target["expr"] for target in panel["targets"]), panel["title"]
