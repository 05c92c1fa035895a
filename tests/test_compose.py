"""compose.yaml and the Dockerfile it builds: checked without Docker, against the real CLI.

Every service built from this repository must run a real `autoglm` command with real
options, every `AUTOGLM_*` variable must be a setting, the GPU worker must reserve an
NVIDIA GPU and build llama.cpp with CUDA, artifacts go to MinIO's bucket, and Prometheus
and Grafana mount files that exist here. `docker compose config` (or Debian's
`docker-compose`) validates the file as Compose itself reads it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import typer.core
import typer.main
import yaml

from autoglm.cli import app
from console.sessions import ConsoleSettings
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
FROM_LINE = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.I | re.M)
COPY_FROM = re.compile(r"--from=(\S+)")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?(?::?\?[^}]*)?\}")
# Variables compose.yaml requires (`${NAME:?...}`): the config checks set them all.
REQUIRED = {
    "POSTGRES_PASSWORD": "compose-config-check",
    "MINIO_ROOT_PASSWORD": "compose-config-check",
    "GRAFANA_ADMIN_PASSWORD": "compose-config-check",
    "AUTOGLM_SECRET_KEYS": "compose-config-check",
    "AUTOGLM_CONSOLE_SECRET": "compose-config-check",
}
# The console keeps its own settings (console/sessions.py, env prefix AUTOGLM_CONSOLE_): the
# API never needs them, and the console package reads them where it is mounted.
CONSOLE_PREFIX = "AUTOGLM_CONSOLE_"


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    found = compose()["services"]
    assert isinstance(found, dict)
    assert found, "compose.yaml defines no services"
    return found


def built() -> dict[str, dict[str, Any]]:
    """Services whose image is ours: built here, or tagged like an image built here."""
    ours = {s["image"] for s in services().values() if "build" in s and "image" in s}
    return {name: s for name, s in services().items() if "build" in s or s.get("image") in ours}


def build_spec(service: dict[str, Any]) -> dict[str, Any]:
    spec = service["build"]
    return {"context": spec} if isinstance(spec, str) else dict(spec)


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = [item.partition("=") for item in env]
        return {key: value if sep else None for key, sep, value in pairs}
    assert isinstance(env, dict)
    return env


def words(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def stages(dockerfile: Path) -> dict[str, tuple[str, str]]:
    """Each named stage of a Dockerfile: (its base, its text)."""
    text = dockerfile.read_text(encoding="utf-8")
    matches = list(FROM_LINE.finditer(text))
    named: dict[str, tuple[str, str]] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        if match.group(2):
            named[match.group(2)] = (match.group(1), text[match.start() : end])
    return named


def stage_chain(dockerfile: Path, target: str) -> str:
    """The text of `target` and of every stage it starts from or copies from."""
    named = stages(dockerfile)
    seen: list[str] = []
    todo = [target]
    while todo:
        name = todo.pop()
        if name in seen or name not in named:
            continue
        seen.append(name)
        base, text = named[name]
        todo += [base, *COPY_FROM.findall(text)]
    return "\n".join(named[name][1] for name in seen)


def check_command(service: str, argv: list[str]) -> None:
    """Walk the CLI's command tree down `argv` (`db upgrade`), then parse the rest with the
    command found: an unknown option, a missing or surplus argument, a bad value all fail."""
    command = typer.main.get_command(app)
    path: list[str] = []
    rest = list(argv)
    while isinstance(command, typer.core.TyperGroup):
        assert rest, f"{service}: `autoglm {' '.join(path)}` needs a subcommand"
        word = rest.pop(0)
        path.append(word)
        sub = command.commands.get(word)
        assert sub is not None, f"{service}: `autoglm {' '.join(path)}` is no autoglm command"
        command = sub
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for word in rest:
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            assert option in known, f"{service}: `autoglm {' '.join(path)}` has no {option}"
    command.make_context(" ".join(["autoglm", *path]), rest)


def test_compose_defines_the_deployment() -> None:
    expected = {"postgres", "redis", "kafka", "migrate", "api", "worker", "worker-gpu"}
    expected |= {"scheduler", "bridge", "minio", "minio-init", "prometheus", "grafana"}
    assert expected <= set(services()), f"missing: {expected - set(services())}"


def test_every_build_has_a_context_a_dockerfile_and_its_target() -> None:
    assert built(), "no service builds an image"
    for name, service in built().items():
        if "build" not in service:
            continue
        spec = build_spec(service)
        context = (ROOT / spec.get("context", ".")).resolve()
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        if "target" in spec:
            assert spec["target"] in stages(dockerfile), (
                f"{name}: {dockerfile.name} has no stage `FROM ... AS {spec['target']}`"
            )


def test_every_service_of_ours_runs_a_real_autoglm_command() -> None:
    for name, service in built().items():
        assert words(service.get("entrypoint")) in ([], ["autoglm"]), (
            f"{name}: overrides the image's `autoglm` entrypoint"
        )
        argv = words(service.get("command"))
        assert argv, f"{name}: no command (the image's default only prints --help)"
        check_command(name, argv)


def test_migrations_run_once_before_the_services_that_need_them() -> None:
    migrate = services()["migrate"]
    assert words(migrate["command"]) == ["db", "upgrade"]
    assert migrate.get("restart") == "on-failure"
    for name, service in built().items():
        if name == "migrate":
            continue
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        condition = depends.get("migrate", {}).get("condition")
        assert condition == "service_completed_successfully", f"{name} does not await migrate"


def test_depends_on_names_services_and_valid_conditions() -> None:
    for name, service in services().items():
        depends = service.get("depends_on") or {}
        items = dict.fromkeys(depends, None) if isinstance(depends, list) else depends
        for other, spec in items.items():
            assert other in services(), f"{name} depends on unknown service {other!r}"
            condition = (spec or {}).get("condition", "service_started")
            assert condition in CONDITIONS, f"{name} -> {other}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services()[other], f"{other} has no healthcheck"


def test_long_running_services_restart_and_are_checked() -> None:
    for name, service in services().items():
        one_shot = any(
            (s.get("depends_on") or {}).get(name, {}).get("condition")
            == "service_completed_successfully"
            for s in services().values()
            if isinstance(s.get("depends_on"), dict)
        )
        assert service.get("restart") == ("on-failure" if one_shot else "unless-stopped"), name
    for name in (
        "postgres",
        "redis",
        "kafka",
        "api",
        "worker",
        "worker-gpu",
        "scheduler",
        "bridge",
        "minio",
        "prometheus",
        "grafana",
    ):
        assert services()[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(words(services()["api"]["healthcheck"]["test"]))


def test_every_autoglm_variable_is_a_setting_with_a_valid_value() -> None:
    fields = set(Settings.model_fields)
    for name, service in built().items():
        values: dict[str, Any] = {}
        console: dict[str, Any] = {}
        for key, value in environment(service).items():
            if not key.upper().startswith("AUTOGLM_"):
                continue
            literal = None if value is None else _with_defaults(str(value))
            if key.upper().startswith(CONSOLE_PREFIX):
                field = key[len(CONSOLE_PREFIX) :].lower()
                assert field in ConsoleSettings.model_fields, f"{name}: {key} is no console setting"
                if literal is not None:
                    console[field] = literal
                continue
            field = key[len("AUTOGLM_") :].lower()
            assert field in fields, f"{name}: {key} is not a setting (core/settings.py)"
            if literal is not None:
                values[field] = literal
        Settings.model_validate(values)  # e.g. AUTOGLM_METRICS_PORT is a port number
        ConsoleSettings.model_validate(console)


def _with_defaults(value: str) -> str | None:
    """`value` with `${VAR:-default}` replaced by the default; None if a variable has none."""
    unresolved = False

    def default(match: re.Match[str]) -> str:
        nonlocal unresolved
        unresolved = unresolved or match.group(2) is None
        return match.group(2) or ""

    text = INTERPOLATION.sub(default, value)
    return None if unresolved else text


def test_services_share_settings_and_keep_artifacts_in_the_minio_bucket() -> None:
    shared = compose()["x-autoglm-env"]
    assert shared["AUTOGLM_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert shared["AUTOGLM_BROKER_URL"] == "redis://redis:6379/0"
    s3 = {key: value for key, value in shared.items() if key.startswith(("AUTOGLM_S3_", "AWS_"))}
    assert s3["AUTOGLM_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(s3)
    minio = environment(services()["minio"])
    assert s3["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert s3["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert ":?" in minio["MINIO_ROOT_PASSWORD"], "MinIO must not start on a default password"
    for name in ("api", "worker", "worker-gpu", "scheduler"):
        service = services()[name]
        env = environment(service)
        assert {key: env.get(key) for key in s3} == s3, f"{name} has other S3 settings"
        assert "AUTOGLM_ARTIFACT_DIR" not in env, f"{name} still keeps artifacts in files"
        assert not service.get("volumes"), f"{name} mounts a volume: artifacts are in S3"
        condition = service["depends_on"]["minio-init"]["condition"]
        assert condition == "service_completed_successfully", f"{name} starts before the bucket"
    init = services()["minio-init"]
    assert environment(init)["BUCKET"] == s3["AUTOGLM_S3_BUCKET"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = " ".join(words(init["command"]))
    assert "mc mb --ignore-existing" in script and "http://minio:9000" in script
    assert environment(services()["api"])["AUTOGLM_API_HOST"] == "0.0.0.0"
    assert "AUTOGLM_CALLBACK_SECRET" in shared
    api = environment(services()["api"])
    assert ":?" in api["AUTOGLM_SECRET_KEYS"], "webhook secrets need a key"
    assert ":?" in api["AUTOGLM_CONSOLE_SECRET"]
    for name in ("worker", "worker-gpu", "scheduler", "migrate"):  # only the API decrypts
        assert "AUTOGLM_SECRET_KEYS" not in environment(services()[name]), name


def test_prometheus_and_grafana_mount_files_of_this_repository() -> None:
    mounted: dict[str, str] = {}
    for name in ("prometheus", "grafana"):
        for volume in services()[name]["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
                mounted[target] = source
            else:
                assert source in compose()["volumes"], f"{name}: unknown volume {source}"
    config = services()["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in config
    assert mounted["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounted["/etc/prometheus/alerts.yml"] == "./deploy/prometheus/alerts.yml"
    assert mounted["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounted["/etc/grafana/dashboards"] == "./deploy/grafana/dashboards"
    assert (ROOT / "deploy/grafana/provisioning/datasources").is_dir()


def test_prometheus_scrapes_the_ports_the_services_serve_metrics_on() -> None:
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    ports = {
        name: sd["port"]
        for job in scrape["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    assert ports["api"] == int(services()["api"]["ports"][0].rsplit(":", 1)[1])
    for name in ("worker", "worker-gpu", "scheduler"):
        assert int(environment(services()[name])["AUTOGLM_METRICS_PORT"]) == ports[name], name
    for name in ("worker", "worker-gpu"):  # one process: its port is the one scraped
        concurrency = environment(services()[name])["AUTOGLM_WORKER_CONCURRENCY"]
        assert _with_defaults(concurrency) == "1", name


def test_gpu_worker_reserves_an_nvidia_gpu_and_builds_llama_cpp_with_cuda() -> None:
    gpu = services()["worker-gpu"]
    assert words(gpu["command"]) == ["worker"]
    assert "gpu" in gpu.get("profiles", [])
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert environment(gpu)["AUTOGLM_N_GPU_LAYERS"] == "-1"
    spec = build_spec(gpu)
    dockerfile = ROOT / spec.get("context", ".") / spec.get("dockerfile", "Dockerfile")
    chain = stage_chain(dockerfile, spec["target"])
    args = " ".join(str(v) for v in (spec.get("args") or {}).values() if v)
    assert "-DGGML_CUDA=on" in chain + args, f"target {spec['target']} builds no CUDA llama.cpp"
    base, _ = stages(dockerfile)[spec["target"]]
    assert "devel" not in base, f"the GPU image runs on a compiler image: {base}"
    cpu = build_spec(services()["worker"])
    assert "-DGGML_CUDA=on" not in stage_chain(dockerfile, cpu["target"])


def test_kafka_is_reachable_by_the_bridge_with_its_topics_created() -> None:
    kafka = environment(services()["kafka"])
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    bridge = services()["bridge"]
    servers = _with_defaults(environment(bridge)["AUTOGLM_KAFKA_BOOTSTRAP_SERVERS"])
    assert servers == "kafka:9092"
    init = bridge["depends_on"]["kafka-init"]["condition"]
    assert init == "service_completed_successfully"
    script = " ".join(words(services()["kafka-init"]["command"]))
    assert "kafka-topics.sh" in script and "--create" in script


def compose_command() -> list[str]:
    """`docker compose` where the plugin exists, else Debian's `docker-compose` (v1), which
    `scripts/bootstrap --dev` installs: both validate the file without a Docker daemon."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor `docker-compose` (scripts/bootstrap --dev)"
    return [legacy]


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "--profile", "gpu", "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )


def test_docker_compose_accepts_the_file() -> None:
    result = compose_config({**os.environ, **REQUIRED})
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_each_secret() -> None:
    for missing in REQUIRED:
        env = {**os.environ, **REQUIRED}
        env.pop(missing)
        result = compose_config(env)
        assert result.returncode != 0 and missing in result.stderr, missing


def test_scheduler_and_bridge_health_reads_the_heartbeat_they_write() -> None:
    for name in ("scheduler", "bridge"):
        service = services()[name]
        heartbeat = environment(service)["AUTOGLM_HEARTBEAT_FILE"]
        assert heartbeat in " ".join(words(service["healthcheck"]["test"])), name
