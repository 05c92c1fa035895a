"""Named models, as settings and deployment files declare them: a local GGUF or a remote
OpenAI-compatible endpoint. Plain data here; `generation.router` turns them into engines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fallback: list[str] = Field(
        default_factory=list, description="Models to try, in order, when this one is unusable."
    )


class LocalModel(_Model):
    """A GGUF file this worker loads itself."""

    kind: Literal["local"] = "local"
    gguf: str = Field(min_length=1, description="A bundled model's name or a .gguf path.")
    n_gpu_layers: int | None = Field(default=None, description="Default: AUTOGLM_N_GPU_LAYERS.")
    n_ctx: int | None = Field(default=None, ge=256, description="Default: AUTOGLM_N_CTX.")


class RemoteModel(_Model):
    """A model behind any OpenAI-compatible `/v1/chat/completions` (vLLM, llama-server, TGI,
    Ollama, OpenAI itself)."""

    kind: Literal["remote"] = "remote"
    base_url: str = Field(pattern=r"^https?://", description="e.g. http://vllm:8000/v1")
    model: str = Field(min_length=1, description="The model name the server expects.")
    api_key_env: str | None = Field(default=None, description="Variable holding the API key.")
    api_key_file: Path | None = Field(default=None, description="File holding the API key.")
    timeout_seconds: float = Field(default=120.0, gt=0, description="Per request, streaming.")
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    max_concurrency: int = Field(default=8, ge=1, le=1024, description="Requests in flight.")
    max_retries: int = Field(default=3, ge=0, le=10, description="On 429, 5xx and timeouts.")
    breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failures that open the circuit."
    )
    breaker_open_seconds: float = Field(
        default=30.0, gt=0, description="How long an open circuit fails fast before one probe."
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> RemoteModel:
        if self.api_key_env and self.api_key_file:
            raise ValueError("give api_key_env or api_key_file, not both")
        return self


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind") or ("remote" if "base_url" in value else "local"))
    return str(getattr(value, "kind", "local"))


ModelConfig = Annotated[
    Annotated[LocalModel, Tag("local")] | Annotated[RemoteModel, Tag("remote")],
    Discriminator(_kind),
]
