"""The warehouse: tables reached through SQLAlchemy, SQLite by default, PostgreSQL in production."""
