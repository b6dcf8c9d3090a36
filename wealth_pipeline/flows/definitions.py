"""The cash-flow domain's Dagster definitions: `account_cash_flows` and its check."""

import dagster as dg

from wealth_pipeline.flows.assets import account_cash_flows, flows_checks
from wealth_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=[account_cash_flows], asset_checks=flows_checks)
