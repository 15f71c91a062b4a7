"""Storage: SQLAlchemy 2.x models, Alembic migrations and the store the server writes through."""
