"""The certification centre: ``harness serve``, a results registry behind a web API.

A FastAPI application under uvicorn keeps every accepted run, certificate, part, profile and
bench in a real database through SQLAlchemy (an SQLite file by default, PostgreSQL by URL),
its schema made by Alembic migrations. Suppliers and lab staff reach it with API tokens:

* :mod:`.db`: the tables and the engine; :mod:`.migrate` brings a database to the newest schema.
* :mod:`.auth`: organisations, users, hashed API tokens, roles.
* :mod:`.store`: evidence on disk, content-addressed by sha256.
* :mod:`.intake`: a submitted bundle is checked (manifest, certificate, offline re-evaluation)
  by a background worker and only then enters the registry.
* :mod:`.app`: the HTTP API; :mod:`.pages`: the public certificate list, the login form and
  the live dashboard (``static/dashboard.js``); :mod:`.live`: live runs, their events
  (Server-Sent Events to the dashboards) and operator prompts.
* :mod:`.client`: ``harness submit`` and ``verify --registry``; :mod:`.live_client`: the
  observer that streams a run and the operator that asks on the dashboard;
  :mod:`.certify`: what ``harness certify`` does with ``--answers``, ``--server``,
  ``--submit``; :mod:`.cli`: ``harness serve``, ``accounts``, ``submit``.

This package sits at the top of the layers: it uses the certificate, offline and report
packages and nothing below imports it.
"""
