"""`/templates`: upload, list, read, publish, archive, and set who may see and run them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentActor, SessionDep, SettingsDep
from api.params import Offset
from api.schemas import AccessBody, ActivateBody, TemplateOut, VersionOut, version_url
from api.upload import YAML_TYPES, read_template_upload
from registry import publishing, templates
from registry.permissions import Permission

router = APIRouter(prefix="/templates", tags=["templates"])
READ = Permission.TEMPLATE_READ
UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=VersionOut,
    openapi_extra=UPLOAD_DOC,
    responses={409: {}, 413: {}, 415: {}, 422: {}},
)
async def upload_template(
    request: Request,
    response: Response,
    session: SessionDep,
    actor: CurrentActor,
    settings: SettingsDep,
    owner_team: Annotated[str | None, Query(description="Owner of a new template.")] = None,
    activate: Annotated[bool, Query(description="Also make it the active version.")] = False,
) -> VersionOut:
    """Store a new immutable version; 409 if that name and version exist already."""
    upload = await read_template_upload(request, settings.template_max_bytes)

    def store() -> VersionOut:
        row = templates.upload(
            session,
            actor,
            upload.raw,
            source_name=upload.filename,
            owner_team=owner_team,
            max_bytes=settings.template_max_bytes,
        )
        if activate:
            publishing.activate(session, actor, row.template.name, row.version)
        session.commit()
        return VersionOut.of(row.template, row)

    out = await run_in_threadpool(store)
    response.headers["Location"] = version_url(out.name, out.version)
    return out


@router.get("", response_model=list[TemplateOut])
def list_templates(
    session: SessionDep,
    actor: CurrentActor,
    category: str | None = None,
    q: Annotated[str | None, Query(description="Text in the name.", max_length=200)] = None,
    include_archived: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[TemplateOut]:
    """Templates the caller may read, by name."""
    rows = templates.list_templates(
        session,
        actor,
        category=category,
        search=q,
        include_archived=include_archived,
        limit=limit,
        offset=offset,
    )
    return [TemplateOut.of(t) for t in rows]


@router.get("/{name}", response_model=TemplateOut, responses={404: {}})
def get_template(name: str, session: SessionDep, actor: CurrentActor) -> TemplateOut:
    """A template with its access and its active version."""
    return TemplateOut.of(templates.find(session, actor, name, READ))


@router.get("/{name}/versions", response_model=list[VersionOut], responses={404: {}})
def list_versions(name: str, session: SessionDep, actor: CurrentActor) -> list[VersionOut]:
    """Every version, oldest first."""
    template = templates.find(session, actor, name, READ)
    return [VersionOut.of(template, v) for v in templates.versions(session, template)]


@router.get(
    "/{name}/versions/{version}",
    response_model=VersionOut,
    responses={404: {}, 200: {"content": {"application/yaml": {}}}},
)
def get_version(
    name: str,
    version: str,
    session: SessionDep,
    actor: CurrentActor,
    accept: Annotated[str, Header()] = "application/json",
) -> VersionOut | Response:
    """The version's metadata, or the YAML exactly as uploaded with `Accept: application/yaml`."""
    template = templates.find(session, actor, name, READ)
    row = templates.get_version(session, template, version)
    if any(t.split(";")[0].strip() in YAML_TYPES for t in accept.split(",")):
        return Response(row.source, media_type="application/yaml; charset=utf-8")
    return VersionOut.of(template, row)


@router.post("/{name}/active", response_model=TemplateOut, responses={404: {}, 409: {}})
def activate(
    name: str, body: ActivateBody, session: SessionDep, actor: CurrentActor
) -> TemplateOut:
    """Publish a version, or roll back to an earlier one (`template:publish`)."""
    template = publishing.activate(session, actor, name, body.version)
    session.commit()
    return TemplateOut.of(template)


@router.post("/{name}/archive", response_model=TemplateOut, responses={404: {}})
def archive(name: str, session: SessionDep, actor: CurrentActor) -> TemplateOut:
    """Hide from listings and refuse new versions and runs; versions are kept."""
    template = publishing.archive(session, actor, name)
    session.commit()
    return TemplateOut.of(template)


@router.delete("/{name}/archive", response_model=TemplateOut, responses={404: {}})
def restore(name: str, session: SessionDep, actor: CurrentActor) -> TemplateOut:
    """Bring an archived template back."""
    template = publishing.restore(session, actor, name)
    session.commit()
    return TemplateOut.of(template)


@router.get("/{name}/access", response_model=AccessBody, responses={404: {}})
def get_access(name: str, session: SessionDep, actor: CurrentActor) -> AccessBody:
    return AccessBody.of(templates.access_of(templates.find(session, actor, name, READ)))


@router.put("/{name}/access", response_model=AccessBody, responses={404: {}, 422: {}})
def set_access(name: str, body: AccessBody, session: SessionDep, actor: CurrentActor) -> AccessBody:
    """Replace the owner team and the roles that may read or run (`template:publish`)."""
    access = publishing.set_access(
        session,
        actor,
        name,
        owner_team=body.owner_team,
        read_roles=body.read_roles,
        run_roles=body.run_roles,
    )
    session.commit()
    return AccessBody.of(access)
