"""Fixtures for the whole suite: real nats-server, real databases."""

pytest_plugins = ["tests.nats_fixtures", "tests.db_fixtures"]
