"""Fault-injection tests: the integration fixtures (an isolated deployment on the real broker
`make up` started, a private redis-server), every test marked `faults`."""

from __future__ import annotations

import pytest

from tests.integration.conftest import deployment, real_services  # noqa: F401 - fixtures reused


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault-injection tests against the real broker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "faults" in item.path.parts:
            item.add_marker(pytest.mark.faults)
