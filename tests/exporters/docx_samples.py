"""Rich documents for the Word exporter tests: Chinese and English text, headings h1-h3, two
separate numbered lists, a list starting at 3, nested bullets, a right-aligned table, code with
a blank line, and a chart given as SVG with its PNG twin; plus the shipped templates rendered
with fixed generated values."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageDraw

from documents.document import Document
from documents.inputs import validate_inputs
from documents.loader import load_template_file
from documents.render import render_document
from documents.spec import ExportOptions

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

ZH_SENTENCES = (
    "本报告总结了第三季度的运营情况，所有数据均来自生产环境。",
    "系统在本季度保持稳定运行，可用性达到百分之九十九点九五。",
)
ZH_MARKDOWN = f"""\
# 季度运营报告

{ZH_SENTENCES[0]} The figures are final.

## 概述

{ZH_SENTENCES[1]}

### 关键指标

| 指标 | 数值 | 变化 |
| --- | ---: | ---: |
| 请求数 | 1,234,567 | +12% |
| 错误率 | 0.05% | -0.01% |
| 延迟 p99 | 180 ms | -240 ms |
| 可用性 | 99.95% | +0.02% |

## 发布步骤

1. 冻结代码
2. 运行迁移
3. 通知用户

两个列表之间的说明。

1. 备份数据库
2. 升级服务

- 前端
  - 升级框架
    - 第三层
  - 缩小包体积
- 后端

## 代码示例

```python
def total(values):
    result = 0

    for value in values:
        result += value
    return result
```

## 图表

![每周请求数](charts/requests.svg)

### 备注

3. 第三项
4. 第四项
"""

EN_MARKDOWN = """\
# Quarterly Operations Report

This report summarises the third quarter. All figures come from production.

## Overview

The service stayed stable all quarter.

### Key figures

| Metric | Value | Change |
| --- | ---: | :---: |
| Requests | 1,234,567 | +12% |
| Errors | 0.05% | -0.01% |
| Latency p99 | 180 ms | -240 ms |

## Release steps

1. Freeze the code
2. Run the migrations
3. Tell the users

Between the two lists.

1. Back up the database
2. Upgrade the service

- Frontend
  - Framework upgrade
  - Smaller bundle
- Backend

## Code

```python
def total(values):
    result = 0

    for value in values:
        result += value
    return result
```

## Chart

![Requests per week](charts/requests.svg "Weekly requests")
"""

ZH_OPTIONS: dict[str, Any] = {
    "cover": True,
    "toc": {"position": "after_title", "depth": 3},
    "watermark": "草稿",
    "header": "{title}",
    "footer": "第 {page} 页 / 共 {pages} 页",
    "tables": {"zebra": True},
    "metadata": {"subject": "运营", "keywords": ["季度", "运营"]},
}
EN_OPTIONS: dict[str, Any] = {
    "toc": {"position": "after_title", "depth": 2, "title": "In this report"},
    "page_break_before": "h2",
    "watermark": "DRAFT",
    "header": "{title} (internal)",
    "footer": "Page {page} of {pages}",
    "first_page_footer": "",
    "font": "Noto Sans CJK SC",
    "font_size": "11pt",
    "tables": {"borders": "rows"},
}


def chart_png(width: int = 1200, height: int = 600) -> bytes:
    """A bar chart drawn with Pillow: a real PNG bigger than the text width."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for bar in range(6):
        left = 100 + bar * 180
        draw.rectangle([left, height - 100 - bar * 70, left + 100, height - 50], fill="#0b3d62")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def rich_document(language: str = "zh", **overrides: Any) -> Document:
    markdown, options = (ZH_MARKDOWN, ZH_OPTIONS) if language == "zh" else (EN_MARKDOWN, EN_OPTIONS)
    return Document(
        title="季度运营报告" if language == "zh" else "Quarterly Operations Report",
        markdown=markdown,
        template_name="ops-report",
        template_version="3.1",
        options=ExportOptions.model_validate({**options, **overrides}),
        author="运营团队",
        category="reporting",
        assets={
            "charts/requests.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "charts/requests.png": chart_png(),
        },
    )


GENERATED: dict[str, dict[str, Any]] = {
    "api_reference": {"overview": "本文档介绍用户服务的三个接口。调用方可以查询、创建和删除用户。"},
    "release_notes": {
        "intro": "This release adds a table of contents to PDF exports. It also fixes Chinese text."
    },
    "weekly_report": {
        "summary": "The Platform team moved the login service and cut search latency.",
        "risks": [
            "The new cluster may run out of memory under peak load.",
            "Lower latency may hide slow queries in the search logs.",
            "Fixed CI jobs may become flaky again after the upgrade.",
        ],
    },
}


def template_document(name: str) -> Document:
    """A shipped template rendered with its example inputs and fixed generated values."""
    loaded = load_template_file(TEMPLATES / f"{name}.yaml")
    given = yaml.safe_load((TEMPLATES / "examples" / f"{name}.inputs.yaml").read_text("utf-8"))
    inputs = validate_inputs(loaded.spec, given)
    return render_document(loaded, inputs, GENERATED[name])
