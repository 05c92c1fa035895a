"""Request and response bodies of the webhooks API; the secret appears only in `WebhookCreated`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from api.params import RequestBody
from registry.models import Webhook


def webhook_url(name: str) -> str:
    return f"/webhooks/{quote(name, safe='')}"


def hook_url(name: str) -> str:
    return f"/hooks/{quote(name, safe='')}"


class WebhookIn(RequestBody):
    """A new webhook. `inputs` values are literals, or `$.a.b.0` paths into the delivery's
    JSON payload; `secret` is generated when left out."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    name: str = Field(min_length=1, max_length=100)
    template: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict)
    formats: list[str] | None = Field(default=None, min_length=1, max_length=3)
    secret: str | None = Field(default=None, max_length=200)


class WebhookOut(BaseModel):
    name: str
    url: str
    hook_url: str
    template: str
    version: str | None
    inputs: dict[str, Any]
    formats: list[str] | None
    owner: str | None
    created_at: datetime
    last_delivery_at: datetime | None

    @classmethod
    def fields_of(cls, hook: Webhook) -> dict[str, Any]:
        return {
            "name": hook.name,
            "url": webhook_url(hook.name),
            "hook_url": hook_url(hook.name),
            "template": hook.template.name,
            "version": hook.version,
            "inputs": hook.inputs,
            "formats": hook.formats,
            "owner": hook.owner.name if hook.owner else None,
            "created_at": hook.created_at,
            "last_delivery_at": hook.last_delivery_at,
        }

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        return cls(**cls.fields_of(hook))


class WebhookCreated(WebhookOut):
    """The new webhook with its secret: store it now, it is never shown again."""

    secret: str

    @classmethod
    def with_secret(cls, hook: Webhook, secret: str) -> WebhookCreated:
        return cls(**cls.fields_of(hook), secret=secret)
