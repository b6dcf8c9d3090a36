"""The manual integration: no service, no network; balances come from the CLI."""

from __future__ import annotations

import socket
from datetime import date

import pytest

from wealth_pipeline.brokers.base import (
    AuthResult,
    IntegrationContext,
    NoNewData,
)
from wealth_pipeline.brokers.catalogue import credential_fields, read_fixture
from wealth_pipeline.brokers.manual import ManualIntegration
from wealth_pipeline.brokers.registry import build_integration, integration_class

CATALOGUE = next(entry for entry in read_fixture() if entry["code"] == "manual")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the manual integration must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def manual() -> ManualIntegration:
    integration = build_integration(CATALOGUE, {}, IntegrationContext(today=date(2024, 6, 14)))
    assert isinstance(integration, ManualIntegration)
    return integration


def test_registered_for_the_catalogue_entry() -> None:
    assert integration_class("manual") is ManualIntegration
    assert CATALOGUE["integration_type"] == "manual"
    assert credential_fields(CATALOGUE["credential_schema"]) == []  # nothing to log in with


def test_everything_answers_without_a_service(no_network: None) -> None:
    with manual() as integration:
        assert integration.authenticate() == AuthResult(success=True)
        assert integration.get_accounts() == []
        assert integration.get_positions("anything") == []
        assert integration.supports_historical_data() is False
        assert integration.get_historical_balances("x", date(2024, 1, 1), date(2024, 6, 1)) == []
        assert integration.export_state() is None


def test_balance_points_at_the_commands_that_record_one(no_network: None) -> None:
    with pytest.raises(NoNewData) as caught:
        manual().get_balance("")
    message = str(caught.value)
    assert "wealth snapshots add" in message and "wealth import csv" in message
    assert not NoNewData.retryable
