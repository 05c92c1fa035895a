"""Read an uploaded template (a YAML body or a multipart file) without ever holding more than
the size limit in memory."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from api.problems import PayloadTooLarge, UnsupportedMediaType
from core.errors import UserError

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
MULTIPART = "multipart/form-data"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file


@dataclass(frozen=True)
class Upload:
    raw: bytes
    filename: str


async def read_template_upload(request: Request, max_bytes: int) -> Upload:
    """The template bytes from `application/yaml` or from the `file` part of a multipart form."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in YAML_TYPES:
        return Upload(await _read_capped(request, max_bytes), "template")
    if media_type == MULTIPART:
        body = await _read_capped(request, max_bytes + MULTIPART_OVERHEAD)
        return await _file_part(request, body, max_bytes)
    raise UnsupportedMediaType(
        f"content type {media_type or '(none)'!r} is not accepted; send application/yaml "
        "or multipart/form-data with a `file` part"
    )


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _file_part(request: Request, body: bytes, max_bytes: int) -> Upload:
    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except Exception as exc:  # the multipart parser's errors are not one public type
        raise UserError(f"malformed multipart body: {exc}") from None
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise UserError("multipart body has no `file` part holding the template")
    raw = await part.read()
    await form.close()
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    return Upload(raw, part.filename or "template")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"template is larger than the {limit}-byte limit")
