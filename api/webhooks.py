"""`/webhooks` (manage, with a bearer token) and `POST /hooks/{name}` (deliver, signed).

A delivery carries no bearer token of ours: its signature, made with the webhook's secret,
is the authentication, and the job runs as the webhook's owner.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentActor, SessionDep, SettingsDep
from api.job_schemas import JobOut
from api.submissions import answered_in_memory
from api.webhook_schemas import WebhookCreated, WebhookIn, WebhookOut, webhook_url
from registry import webhooks
from triggers.dispatch import Dispatcher
from triggers.webhooks import deliver

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
hooks = APIRouter(prefix="/hooks", tags=["webhooks"])
DELIVERY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "parameters": [
        {
            "name": header,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": description,
        }
        for header, description in (
            ("X-Hub-Signature-256", "`sha256=` + hex HMAC-SHA256 of the raw body."),
            ("Authorization", "`Bearer <secret>`, when no signature is sent."),
            ("X-GitHub-Delivery", "Delivery id: a repeat returns the first job."),
            ("X-Delivery-Id", "Delivery id, when there is no X-GitHub-Delivery."),
            ("Idempotency-Key", "Delivery id, when neither of the above is sent."),
            ("X-Callback-Url", "Receives the job's completion event as a signed POST."),
        )
    ],
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
def create_webhook(
    body: WebhookIn,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
) -> WebhookCreated:
    """Create a webhook (`schedule:write` on the template); the secret is shown only here."""
    hook, secret = webhooks.create(
        session,
        actor,
        name=body.name,
        template=body.template,
        version=body.version,
        inputs=body.inputs,
        formats=body.formats,
        secret=body.secret,
        settings=settings,
    )
    session.commit()
    response.headers["Location"] = webhook_url(hook.name)
    return WebhookCreated.with_secret(hook, secret)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(session: SessionDep, actor: CurrentActor) -> list[WebhookOut]:
    """Webhooks of templates on which the caller holds `schedule:write`, by name."""
    return [WebhookOut.of(h) for h in webhooks.list_webhooks(session, actor)]


@router.get("/{name}", response_model=WebhookOut, responses={403: {}, 404: {}})
def get_webhook(name: str, session: SessionDep, actor: CurrentActor) -> WebhookOut:
    return WebhookOut.of(webhooks.get(session, actor, name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses={403: {}, 404: {}})
def delete_webhook(name: str, session: SessionDep, actor: CurrentActor) -> Response:
    webhooks.delete(session, actor, name)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@hooks.post(
    "/{name}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    openapi_extra=DELIVERY_DOC,
    responses={
        200: {"description": "The delivery id named an existing job."},
        401: {"description": "Missing or wrong signature; nothing was queued."},
        404: {},
        422: {},
    },
)
async def deliver_hook(
    name: str, request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> JobOut:
    """Verify the signature on the raw body, then queue the webhook's job (202)."""
    body = await request.body()
    dispatcher: Dispatcher = request.app.state.dispatcher

    def run() -> JobOut:
        answer = answered_in_memory(
            session,
            lambda: deliver(
                session, name, body, request.headers, dispatcher=dispatcher, settings=settings
            ),
        )
        if not answer.created:
            response.status_code = status.HTTP_200_OK
            response.headers["Idempotent-Replayed"] = "true"
        response.headers["Location"] = answer.job.url
        response.headers["X-Trace-Id"] = answer.job.trace_id
        return answer.job

    return await run_in_threadpool(run)
