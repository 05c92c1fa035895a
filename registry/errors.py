"""Registry errors, each with a stable machine-readable `code`; the API maps classes to statuses."""

from __future__ import annotations

from core.errors import AutoglmError, UserError


class RegistryError(UserError):
    """A refused registry request; `code` stays stable across releases, the message may not."""

    code = "registry_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class NotFound(RegistryError):
    code = "not_found"

    @classmethod
    def template(cls, name: str) -> NotFound:
        # Same text whether the template is missing or hidden from the caller.
        return cls(f"template {name!r} not found", "template_not_found")


class Conflict(RegistryError):
    code = "conflict"


class Gone(RegistryError):
    """Something that existed and was removed on purpose (a purged job's files): 410."""

    code = "gone"


class Forbidden(RegistryError):
    code = "forbidden"


class Unauthenticated(RegistryError):
    code = "unauthenticated"


class Invalid(RegistryError):
    """A well-formed request whose content the registry refuses (unknown role, bad name)."""

    code = "invalid"


class Corrupt(RegistryError):
    """Stored data that fails its integrity check (an artifact whose bytes no longer match its
    recorded SHA-256): the server's fault, not the caller's, and asking again will not help."""

    code = "corrupt"


class StorageUnavailable(AutoglmError):
    """The artifact store cannot be reached just now (a bucket's endpoint down, timing out or
    answering 5xx): not the caller's fault and not permanent, so the API answers 503 with
    `Retry-After` and a worker's attempt fails and is retried."""

    code = "storage_unavailable"
