"""Documents used by the exporter tests."""

from __future__ import annotations

from documents.document import Document, FieldRecord
from documents.spec import ExportOptions

RICH_MARKDOWN = """\
# 用户服务 API接口文档

作者：平台团队 with **bold**, *italic*, ~~gone~~ and `inline code`.

## 接口列表

| 方法 | 路径 |
| --- | --- |
| GET | /api/v1/users |
| POST | /api/v1/users |

## Details

- first point
- second point
  - nested point
    - third level

      continued third level

1. step one
2. step two

> quoted text

```python
print("hello")
```
"""


def sample_document(markdown: str = RICH_MARKDOWN, **options: object) -> Document:
    return Document(
        title="用户服务 API接口文档",
        markdown=markdown,
        template_name="API接口文档",
        template_version="1.2",
        options=ExportOptions.model_validate(options),
        author="平台团队",
        category="technical",
        provenance=(FieldRecord("overview", "p", "SmolLM2.gguf", 7, 10, 20, 0.5, "stop", "text"),),
    )


def long_markdown(sections: int = 12) -> str:
    paragraph = (
        "This paragraph fills the page with ordinary prose about the system. " * 12
    ).strip()
    parts = ["# Long report", ""]
    for n in range(1, sections + 1):
        parts += [f"## Section {n}", "", paragraph, "", f"### Detail {n}", "", paragraph, ""]
    return "\n".join(parts)
