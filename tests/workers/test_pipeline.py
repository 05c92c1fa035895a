from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import Histogram

from core.settings import Settings
from documents.errors import InputError
from documents.loader import LoadedTemplate, load_template_file
from exporters import registry
from generation.batching import BatchingEngine
from generation.llama import LlamaEngine
from generation.metrics import BATCH_SIZE
from tests.fakes import EchoGenerator
from tests.readers import markdown_headings, open_docx, pdf_text, squash
from workers.pipeline import artifact_stem, export_files, field_seed, fill_template

REPORT = """\
name: 周报
version: 1.0
variables:
  - name: team
    type: string
generate:
  summary: {prompt: "Summarise {{ team }}", max_tokens: 30}
  risks: {prompt: "Risks for {{ team }}", schema: {type: array, items: {type: string}}}
body: |
  # {{ team }}
  {{ generated.summary }}
  {% for r in generated.risks %}- {{ r }}
  {% endfor %}
"""


def test_fields_are_generated_and_recorded(template: Callable[[str], LoadedTemplate]) -> None:
    fake = EchoGenerator({"summary": "All *fine*.", "risks": '["late", "slow"]'})
    doc = fill_template(template(REPORT), {"team": "Core"}, lambda: fake, Settings(), seed=5)
    assert doc.markdown == "# Core\nAll \\*fine\\*.\n- late\n- slow\n\n"
    assert [r.name for r in doc.provenance] == ["summary", "risks"]
    summary = doc.provenance[0]
    assert (summary.prompt, summary.text, summary.seed) == (
        "Summarise Core",
        "All *fine*.",
        field_seed(5, "summary"),
    )
    assert fake.requests[0].max_tokens == 30
    assert fake.requests[1].max_tokens == Settings().max_tokens


def test_inputs_are_checked_before_any_generation(
    template: Callable[[str], LoadedTemplate],
) -> None:
    fake = EchoGenerator()
    with pytest.raises(InputError, match="missing required input 'team'"):
        fill_template(template(REPORT), {}, lambda: fake, Settings(), seed=1)
    assert fake.requests == []


def test_model_is_not_loaded_without_generated_fields(
    template: Callable[[str], LoadedTemplate],
) -> None:
    def refuse() -> EchoGenerator:
        raise AssertionError("generator created for a template with nothing to generate")

    doc = fill_template(template("name: plain\nbody: '# Plain'\n"), {}, refuse, Settings(), seed=1)
    assert doc.markdown == "# Plain"


def test_field_seeds_do_not_depend_on_order() -> None:
    assert field_seed(7, "summary") == field_seed(7, "summary")
    assert field_seed(7, "summary") != field_seed(7, "risks")
    assert field_seed(7, "summary") != field_seed(8, "summary")


def test_export_writes_every_format_atomically(
    template: Callable[[str], LoadedTemplate], tmp_path: Path
) -> None:
    fake = EchoGenerator({"risks": '["late"]'})
    doc = fill_template(template(REPORT), {"team": "Core"}, lambda: fake, Settings(), seed=1)
    artifacts = export_files(doc, ["word", "markdown", "pdf"], tmp_path)
    assert [a.format for a in artifacts] == ["docx", "md", "pdf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "周报-1.0.docx",
        "周报-1.0.md",
        "周报-1.0.pdf",
    ]
    assert all(a.size == a.path.stat().st_size > 0 for a in artifacts)


def test_artifact_stem_is_a_safe_file_name(template: Callable[[str], LoadedTemplate]) -> None:
    loaded = template("name: '../../etc/pass wd'\nversion: 'a/b'\n")
    doc = fill_template(loaded, {}, EchoGenerator, Settings(), seed=1)
    assert artifact_stem(doc) == "etc-pass-wd-a-b"


def test_weekly_report_with_the_real_model(engine: LlamaEngine, tmp_path: Path) -> None:
    loaded = load_template_file(Path("templates/weekly_report.yaml"))
    inputs = {"team": "Platform", "week": "2026-W47", "highlights": ["search is faster"]}
    doc = fill_template(loaded, inputs, lambda: engine, Settings(), seed=3)
    summary = next(r for r in doc.provenance if r.name == "summary")
    risks = next(r for r in doc.provenance if r.name == "risks")
    assert summary.text and summary.completion_tokens > 0
    assert summary.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    artifacts = {a.format: a.path for a in export_files(doc, ["pdf", "docx", "md"], tmp_path)}

    text = squash(pdf_text(artifacts["pdf"].read_bytes(), tmp_path))
    assert squash("Platform weekly report — 2026-W47") in text
    assert squash("search is faster") in text
    assert squash(summary.text)[:40] in text
    markdown = artifacts["md"].read_text(encoding="utf-8")
    assert [h for h in markdown_headings(markdown) if h[0] == 2] == [
        (2, "Summary"),
        (2, "Shipped"),
        (2, "Incidents"),
        (2, "Risks"),
    ]
    docx_text = "\n".join(p.text for p in open_docx(artifacts["docx"].read_bytes()).paragraphs)
    assert summary.text.split()[0] in docx_text
    assert risks.attempts in (1, 2)


def test_checkpointed_fields_are_reused_with_the_real_model(
    engine: LlamaEngine, template: Callable[[str], LoadedTemplate]
) -> None:
    """An attempt that wrote `summary` before dying: the next one writes only `risks`, and the
    document is the same as one written in a single run (same seeds, same model)."""
    loaded, inputs = template(REPORT), {"team": "Core"}
    whole = fill_template(loaded, inputs, lambda: engine, Settings(), seed=9)
    written: list[str] = []
    first = next(r for r in whole.provenance if r.name == "summary")
    resumed = fill_template(
        loaded,
        inputs,
        lambda: engine,
        Settings(),
        seed=9,
        done={"summary": first},
        on_field=lambda record: written.append(record.name),
    )
    assert written == ["risks"]
    assert [(r.name, r.reused) for r in resumed.provenance] == [("summary", True), ("risks", False)]
    assert resumed.markdown == whole.markdown
    changed = fill_template(loaded, {"team": "Other"}, lambda: engine, Settings(), seed=9,
                            done={"summary": first})  # fmt: skip
    assert not any(r.reused for r in changed.provenance)  # a different prompt is not reused


def test_a_documents_fields_share_the_batching_engines_batches(
    template: Callable[[str], LoadedTemplate],
) -> None:
    """All fields of one document are submitted at once, so the engine decodes them together,
    and each is checkpointed (in any order) as soon as it is written."""
    engine = LlamaEngine.from_settings(Settings(n_ctx=512, batch_max_size=4, batch_kv_size=4096))
    assert isinstance(engine, BatchingEngine)
    four = "name: four\ngenerate:\n" + "".join(
        f"  f{i}: {{prompt: 'Name a colour ({i}).', max_tokens: 12}}\n" for i in range(4)
    )
    before = _histogram_sum(BATCH_SIZE), _histogram_count(BATCH_SIZE)
    written: list[str] = []
    doc = fill_template(template(four), {}, lambda: engine, Settings(), seed=2,
                        on_field=lambda record: written.append(record.name))  # fmt: skip
    assert sorted(written) == ["f0", "f1", "f2", "f3"]
    assert [r.name for r in doc.provenance] == ["f0", "f1", "f2", "f3"]  # template order
    assert all(r.text for r in doc.provenance)
    sequences = _histogram_sum(BATCH_SIZE) - before[0]
    steps = _histogram_count(BATCH_SIZE) - before[1]
    assert sequences / steps > 1.5  # most decode steps carried several fields


def _histogram_sum(histogram: Histogram) -> float:
    return next(s.value for m in histogram.collect() for s in m.samples if s.name.endswith("_sum"))


def _histogram_count(histogram: Histogram) -> float:
    samples = (s for m in histogram.collect() for s in m.samples)
    return next(s.value for s in samples if s.name.endswith("_count"))


def test_failed_export_writes_nothing(
    template: Callable[[str], LoadedTemplate], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(document: object) -> bytes:
        raise RuntimeError("renderer crashed")

    monkeypatch.setitem(registry.EXPORTERS, "pdf", registry.Exporter("pdf", "pdf", "x", broken))
    doc = fill_template(template("name: t\nbody: '# T'\n"), {}, EchoGenerator, Settings(), seed=1)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        export_files(doc, ["md", "pdf"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_artifacts_get_the_usual_file_permissions(
    template: Callable[[str], LoadedTemplate], tmp_path: Path
) -> None:
    doc = fill_template(template("name: t\nbody: '# T'\n"), {}, EchoGenerator, Settings(), seed=1)
    (artifact,) = export_files(doc, ["md"], tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert artifact.path.stat().st_mode & 0o777 == 0o666 & ~umask
