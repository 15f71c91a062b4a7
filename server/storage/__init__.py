"""Storage: SQLAlchemy 2.x models, Alembic migrations and the store the server writes through.

It lives in the server because it is the server's whole application database (clinics, accounts,
tokens, the audit log) as well as the patients' records; scoring computes what is stored and never
reads the database. It is the last stage of the data flow: it imports games and scoring for the
records it writes, and nothing else of the server (``tests/test_imports.py``).
"""
