"""Fixtures shared by the CDC tests: ``kafka_broker`` (a Tansu broker per test module)."""

from tests.cdc.kafka_broker import kafka_broker  # noqa: F401 (a fixture, found by pytest here)
