"""Settings from the environment (prefix ``AUTOGLM_``): every process is configured alike."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.cpus import usable_cpus
from core.errors import ConfigError
from core.model_config import ModelConfig


class Settings(BaseSettings):
    """Process-wide configuration; every field can be set as ``AUTOGLM_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="AUTOGLM_", env_file=".env", extra="ignore")

    model: str = Field(
        default="qwen2.5-coder-0.5b-instruct",
        min_length=1,
        description="The default model: a bundled model's name (qwen2.5-coder-0.5b-instruct, "
        "smollm2), a .gguf path, or a name from `models`.",
    )
    model_path: Path | None = Field(
        default=None, description="A GGUF file to load as the default model (wins over `model`)."
    )
    models: dict[str, ModelConfig] = Field(
        default_factory=dict,
        description="Named models (JSON): each a local GGUF or a remote OpenAI-compatible "
        "endpoint; a field names one with `model:`. `default` is always the default model.",
    )
    route: Literal["off", "auto"] = Field(
        default="off",
        description="For fields that name no model: off = the default model; auto = the router "
        "picks the light or the heavy model by the field's complexity score.",
    )
    route_light: str = Field(default="smollm2", description="The router's light model.")
    route_heavy: str = Field(default="default", description="The router's heavy model.")
    route_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Scores below it go to the light model."
    )
    n_gpu_layers: int | None = Field(
        default=None,
        description="Layers to offload to the GPU; default: all when llama.cpp has GPU support.",
    )
    n_ctx: int = Field(default=2048, ge=256, description="Context window in tokens.")
    n_threads: int | None = Field(
        default=None, ge=1, description="CPU threads; default: all usable CPUs."
    )
    seed: int | None = Field(default=None, ge=0, description="Base sampling seed; default random.")
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1, le=8192)
    output_dir: Path = Field(default=Path("out"), description="Where `autoglm render` writes.")
    template_max_bytes: int = Field(default=256 * 1024, ge=1024, description="Template size cap.")
    log_level: str = "INFO"
    database_url: str = Field(
        default="sqlite:///var/autoglm.db",
        description="SQLAlchemy URL of the registry database; default a SQLite file under var/.",
    )
    api_host: str = Field(default="127.0.0.1", description="Where `autoglm serve` listens.")
    api_port: int = Field(default=8000, ge=1, le=65535)
    registry_url: str = Field(
        default="http://127.0.0.1:8000", description="Registry that `autoglm push` uploads to."
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://…, amqp://…); default: a queue inside `autoglm serve`.",
    )
    broker_visibility_timeout: int = Field(
        default=7200, ge=10, description="Seconds before Redis redelivers an unacked task."
    )
    artifact_dir: Path = Field(default=Path("var/artifacts"), description="Where jobs' files go.")
    s3_bucket: str | None = Field(
        default=None,
        description="Keep artifacts in this S3-compatible bucket (AWS S3, MinIO, Ceph, GCS in "
        "S3 mode) instead of AUTOGLM_ARTIFACT_DIR; credentials come from the usual AWS "
        "variables or files.",
    )
    s3_prefix: str = Field(default="", max_length=200, description="Key prefix in the bucket.")
    s3_endpoint_url: str | None = Field(
        default=None, description="The S3 service's URL (MinIO, Ceph); default AWS."
    )
    s3_region: str | None = Field(default=None, description="The bucket's region.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto",
        description="`path` (`host/bucket/key`) for MinIO or Ceph behind a plain host name; "
        "`virtual` (`bucket.host/key`); `auto` lets boto3 choose.",
    )
    s3_presign_seconds: int = Field(
        default=0,
        ge=0,
        le=7 * 86400,
        description="0: downloads stream through the API; N: the API answers a redirect to a "
        "presigned URL valid N seconds (after the same permission checks).",
    )
    retention_days: float = Field(
        default=30.0,
        ge=0,
        description="Finished jobs, their files and cached generations are removed this many "
        "days after they finish (a template's `retention_days` overrides it); 0 = keep forever.",
    )
    retention_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often expired jobs and cache rows are removed."
    )
    retention_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Jobs the sweeper removes per transaction."
    )
    callback_secret: str | None = Field(
        default=None,
        repr=False,
        description="Signs completion callbacks (Standard Webhooks: `whsec_` + base64); "
        "jobs with a callback_url are refused while it is unset.",
    )
    callback_allow_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR, JSON list) callbacks may reach although private, loopback "
        "or link-local; everything else of that kind is refused.",
    )
    callback_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="One callback request's timeout."
    )
    callback_give_up_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long a failing callback is retried (exponential backoff with jitter).",
    )
    callback_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often due completion callbacks are sent."
    )
    secret_keys: str | None = Field(
        default=None,
        repr=False,
        description="Fernet keys that encrypt webhook secrets at rest, comma-separated: the "
        "first encrypts, all decrypt (rotation). Required once a webhook exists.",
    )
    cancel_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often a running job checks for a cancel."
    )
    job_lease_seconds: float = Field(
        default=60.0, gt=0, description="A running job not renewed for this long is re-run."
    )
    progress_interval_seconds: float = Field(
        default=0.5,
        ge=0,
        description=(
            "How often a worker writes running fields' text for the console and "
            "`GET /jobs/{id}/events` (0: never; only finished fields are shown)."
        ),
    )
    database_retry_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a worker retries claiming a job while the database is unreachable.",
    )
    sweep_interval_seconds: float = Field(
        default=15.0, gt=0, description="How often the sweeper looks for stuck jobs."
    )
    resend_after_seconds: float = Field(
        default=300.0, gt=0, description="Resend a job's task if nobody took it for this long."
    )
    result_cache_max_entries: int = Field(
        default=10_000, ge=0, description="Generated answers kept for identical requests; 0 = off."
    )
    result_cache_ttl_seconds: float = Field(
        default=7 * 86400, gt=0, description="How long a cached answer is served."
    )
    memory_limit_bytes: int | None = Field(
        default=None,
        ge=1,
        description="A worker refuses to start when its model plus KV cache would not fit this.",
    )
    worker_concurrency: int = Field(
        default=1, ge=1, description="Worker processes per `autoglm worker` (one model each)."
    )
    worker_jobs_per_process: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Jobs one process runs at once over its one model, their fields batched "
        "together; with batching off (AUTOGLM_BATCH_MAX_SIZE=1) a process runs one at a time.",
    )
    export_processes: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Warm export processes per worker process, rendering a job's formats in "
        "parallel; default one per CPU core, 0 = export in the job's own thread.",
    )
    export_timeout_seconds: float = Field(
        default=120.0, gt=0, le=3600, description="An export running longer is killed."
    )
    export_memory_mb: int = Field(
        default=2048, ge=256, description="Memory one export process may allocate (MiB)."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="/metrics of `autoglm scheduler`, and `autoglm worker` (process i: port + i).",
    )
    request_max_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Cap on any API request body (bytes)."
    )
    token: str | None = Field(
        default=None, repr=False, description="Bearer token `autoglm push` sends."
    )
    schedule_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often `autoglm scheduler` looks for due cron fires.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka brokers for `autoglm bridge`, comma-separated host:port."
    )
    kafka_requests_topic: str = Field(default="autoglm.requests", min_length=1)
    kafka_completed_topic: str = Field(default="autoglm.completed", min_length=1)
    kafka_dead_letter_topic: str = Field(default="autoglm.requests.dlq", min_length=1)
    kafka_group_id: str = Field(default="autoglm-bridge", min_length=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (with SASL_*)."
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = Field(default=None, repr=False)
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle for SSL.")
    kafka_ssl_certfile: Path | None = Field(default=None, description="Client certificate.")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="Client key.")
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    heartbeat_file: Path | None = Field(
        default=None,
        description="`scheduler` and `bridge` touch this file after every pass (health checks).",
    )
    bridge_principal: str = Field(
        default="kafka-bridge", description="Service principal the Kafka bridge acts as."
    )
    batch_max_size: int = Field(
        default=32,
        ge=1,
        le=256,
        description="Fields one loaded model generates at once (continuous batching); 1 = off.",
    )
    batch_max_wait_ms: float = Field(
        default=50.0,
        ge=0,
        description="How long an idle batching engine lets a first field wait for others (ms).",
    )
    batch_prefix_pool: int = Field(
        default=4,
        ge=0,
        le=64,
        description="Prompts of recently finished fields kept in the KV cache, so a field "
        "that begins like one of them skips decoding the shared beginning; 0 = off.",
    )
    batch_kv_size: int = Field(
        default=16384,
        ge=256,
        description="KV cache cells for batched fields. When n_ctx × (batch_max_size + "
        "batch_prefix_pool) fits, each field gets its own n_ctx cells; else the fields share "
        "this many (each waits for its prompt + max_tokens).",
    )

    def export_pool_size(self) -> int:
        """Export processes a worker process starts: the setting, else its usable cores."""
        if self.export_processes is not None:
            return self.export_processes
        return usable_cpus()

    def jobs_per_process(self) -> int:
        """Jobs a worker process runs at once: one with batching off, where they would only
        queue on the model while their leases and timeouts run."""
        return self.worker_jobs_per_process if self.batch_max_size > 1 else 1


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once; a bad value names its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(
            [
                f"AUTOGLM_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors(include_url=False)
            ]
        ) from None
