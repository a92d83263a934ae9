"""The nightly history: runs, branches and findings by fingerprint, in SQLite or PostgreSQL through SQLAlchemy."""
