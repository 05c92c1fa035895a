"""Template registry, principals, roles, tokens and the audit log, stored with SQLAlchemy."""
