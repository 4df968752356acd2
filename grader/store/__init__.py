"""The service's store: SQLAlchemy models, sessions and Alembic migrations."""
