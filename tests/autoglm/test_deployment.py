"""The seed's deployment.yaml: its shape, what each key sets, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoglm.deployment import check_memory, load_deployment
from core.errors import ConfigError
from core.settings import Settings
from generation.models import bundled_model_path
from tests.autoglm.run import autoglm
from tests.jobs_support import STATIC
from tests.stack import distributed_stack

SEED = """\
model: glm-4-plus
replicas: 3
resources:
  gpu: 1
  memory: 16Gi
batching:
  enabled: true
  max_wait_time: 50ms
  max_batch_size: 32
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(text)
    return path


def test_each_key_sets_its_setting(tmp_path: Path) -> None:
    path = write(tmp_path, SEED.replace("glm-4-plus", "smollm2-135m-instruct"))
    settings = load_deployment(path, Settings())
    assert settings.model_path == bundled_model_path("smollm2")
    assert settings.worker_concurrency == 3
    assert settings.n_gpu_layers == -1
    assert settings.memory_limit_bytes == 16 * 2**30
    assert (settings.batch_max_size, settings.batch_max_wait_ms) == (32, 50.0)
    off = write(tmp_path, "batching: {enabled: false, max_wait_time: 0.2s}\nresources: {gpu: 0}\n")
    settings = load_deployment(off, Settings())
    assert (settings.batch_max_size, settings.batch_max_wait_ms, settings.n_gpu_layers) == (
        1,
        200.0,
        0,
    )


def test_a_model_path_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(bundled_model_path("smollm2").read_bytes()[:1024])
    assert load_deployment(write(tmp_path, "model: m.gguf\n"), Settings()).model_path == (
        tmp_path / "m.gguf"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (SEED, "model (line 1): 'glm-4-plus' is neither a bundled model"),
        ("replicas: 0\n", "replicas (line 1): Input should be greater than or equal to 1"),
        ("batching: {max_wait_time: soon}\n", "batching.max_wait_time (line 1): Value error"),
        ("resources:\n  memory: lots\n", "resources.memory (line 2): Value error, 'lots'"),
        ("replica: 2\n", "replica (line 1): Extra inputs are not permitted"),
        ("- a list\n", "a deployment file is a mapping"),
        ("model: [unclosed\n", "deployment.yaml: "),
    ],
)
def test_bad_files_name_the_field_and_line(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_deployment(path, Settings())
    assert problem in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_the_seed_file_exits_2_naming_the_unknown_model(tmp_path: Path) -> None:
    path = write(tmp_path, SEED)
    for command in (["worker"], ["serve"]):
        result = autoglm(*command, "--config", str(path))
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"error: {path}: model (line 1): 'glm-4-plus' is neither a bundled model "
            "(qwen, qwen2.5-coder-0.5b-instruct, smollm2, smollm2-135m-instruct) "
            "nor an existing .gguf file"
        ]


def test_a_worker_refuses_to_start_when_model_and_kv_cache_do_not_fit() -> None:
    small = Settings(memory_limit_bytes=64 * 2**20, n_ctx=2048, batch_max_size=32)
    with pytest.raises(ConfigError, match=r"need about [\d,]+ MiB, more than resources.memory"):
        check_memory(small, 2)
    check_memory(small.model_copy(update={"memory_limit_bytes": 8 * 2**30}), 2)
    check_memory(Settings(), 8)  # no limit given: no check


def test_a_worker_started_from_a_deployment_file_runs_jobs(tmp_path: Path) -> None:
    deployment = write(
        tmp_path,
        "model: smollm2-135m-instruct\nreplicas: 1\nresources: {gpu: 0, memory: 4Gi}\n"
        "batching: {enabled: false, max_wait_time: 10ms, max_batch_size: 4}\n",
    )
    with distributed_stack(tmp_path, STATIC) as stack:
        stack.start("worker", "--config", str(deployment))
        job = stack.submit({"template": "static", "inputs": {"team": "ops"}})
        done = stack.wait_status(job["id"], {"succeeded", "dead"}, 120)
        assert done["status"] == "succeeded", done["error"]
