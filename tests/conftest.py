"""Fixtures for the whole suite: real nats-server, real databases."""

import os

pytest_plugins = ["tests.nats_fixtures", "tests.db_fixtures"]

# The suite builds services in-process on loopback with SQLite and development keys: it says
# it is a development deployment (a process that says nothing is held to production's checks,
# shared/settings.py). QORGAU_DEPLOYMENT (the console's own) is left to the console's tests.
os.environ.setdefault("QORGAU_ENV", "development")
