"""The Dagster definitions: what `workspace.yaml` loads for the webserver and the daemon.

Each domain exports its own (`<domain>/definitions.py`: assets, checks, jobs, schedules,
sensors); here they are merged with the resources (`wealth_pipeline.resources`) and the
automation condition sensor that evaluates every asset's automation condition.
"""

from __future__ import annotations

import dagster as dg

from wealth_pipeline.conversions import definitions as conversions
from wealth_pipeline.flows import definitions as flows
from wealth_pipeline.fx import definitions as fx
from wealth_pipeline.history import definitions as history
from wealth_pipeline.marts import definitions as marts
from wealth_pipeline.projection import definitions as projection
from wealth_pipeline.report import definitions as report
from wealth_pipeline.resources import resources
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.sync import definitions as sync

DOMAINS = (fx, sync, flows, conversions, history, marts, report, projection)
AUTOMATION_INTERVAL_SECONDS = 30  # Dagster's own default for the automation sensor


def build_automation_sensor(interval_seconds: int | None = None) -> dg.SensorDefinition:
    """Evaluates the assets' automation conditions (converted days after new balances or
    rates, the marts after them and at the day's roll-over), running from the start."""
    return dg.AutomationConditionSensorDefinition(
        "automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds or AUTOMATION_INTERVAL_SECONDS,
        description="Requests what the assets' automation conditions ask for: a day's "
        "conversions after its balances or a rate of its window arrive, the marts after "
        "the conversions and once a day.",
    )


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    return dg.Definitions.merge(
        *(domain.build_defs(settings) for domain in DOMAINS),
        dg.Definitions(
            sensors=[build_automation_sensor(settings.sensor_interval_seconds)],
            resources=resources(settings),
        ),
    )


defs = build_definitions()
