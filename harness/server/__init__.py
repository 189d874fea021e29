"""The certification centre: ``harness serve``, a results registry behind a web API.

A FastAPI application under uvicorn keeps every accepted run, certificate, part, profile and
bench in a real database through SQLAlchemy (an SQLite file by default, PostgreSQL by URL),
its schema made by Alembic migrations. Suppliers and lab staff reach it with API tokens:

* :mod:`.db`: the tables and the engine; :mod:`.migrate` brings a database to the newest schema.
* :mod:`.auth`: organisations, users, hashed API tokens, roles.
* :mod:`.store`: evidence on disk, content-addressed by sha256.
* :mod:`.intake`: a submitted bundle is checked (manifest, certificate, offline re-evaluation)
  by a background worker and only then enters the registry.
* :mod:`.app`: the HTTP API and pages (public certificate list, live dashboard).
* :mod:`.client`: ``harness submit``, ``verify --registry``, and the live-run observer.

This package sits at the top of the layers: it uses the certificate, offline and report
packages and nothing below imports it.
"""
