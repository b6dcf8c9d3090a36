"""What the projection assumes when the person says nothing else, each with its source.

Returns are *real* (after inflation), as yearly geometric means (the compound rate a
median path grows at) and yearly volatilities of log returns. Figures marked "assumption"
are ours, not a published table: the README says so too. None of this is financial advice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

PATHS = 10_000
MAX_YEARS = 50
MAX_MONTHS = MAX_YEARS * 12
BOOTSTRAP_MIN_MONTHS = 36  # three years of the person's own monthly returns
SAVING_WINDOW_MONTHS = 12  # the median net external flow of the last 12 months
STOP_WORKING_SUCCESS = 0.90  # the share of paths that must not run out of money
DEFAULT_PLAN_UNTIL_AGE = 95
PERCENTILES = (5, 25, 50, 75, 95)
# The ECB's medium-term target (symmetric 2 %; ECB monetary policy strategy statement,
# 8 July 2021): used to turn the person's nominal returns into real ones.
DEFAULT_INFLATION = Decimal("0.02")
INFLATION_VARIABLE = "WEALTH_PROJECTION_INFLATION"


def default_inflation() -> Decimal:
    """WEALTH_PROJECTION_INFLATION (a yearly ratio, e.g. 0.02), else DEFAULT_INFLATION."""
    text = os.environ.get(INFLATION_VARIABLE, "").strip()
    if not text:
        return DEFAULT_INFLATION
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{INFLATION_VARIABLE}={text!r} is not a number (e.g. 0.02)") from None
    if not value.is_finite() or not Decimal("-0.5") < value < Decimal("1"):
        raise ValueError(f"{INFLATION_VARIABLE}={text!r} is out of range (-0.5 to 1, e.g. 0.02)")
    return value


# Between any two risky classes (cash is uncorrelated): an assumption, deliberately modest
# so a mix gets some, not much, diversification.
RISKY_CORRELATION = 0.3


@dataclass(frozen=True)
class ClassAssumption:
    real_return: float  # yearly geometric mean, real
    volatility: float  # yearly standard deviation of log returns
    source: str


DMS_2017 = (
    "Dimson, Marsh, Staunton: Credit Suisse Global Investment Returns Yearbook 2017, "
    "world index 1900-2016"
)
ASSET_CLASSES: dict[str, ClassAssumption] = {
    "equity": ClassAssumption(0.051, 0.174, f"{DMS_2017}: equities 5.1 % a year real, s.d. 17.4 %"),
    "fund": ClassAssumption(
        0.051, 0.174, "treated as equities (most retail funds are equity funds): assumption"
    ),
    "fixed_income": ClassAssumption(
        0.018, 0.10, f"{DMS_2017}: bonds 1.8 % a year real; volatility 10 %: assumption"
    ),
    "cash": ClassAssumption(
        0.008, 0.01, f"{DMS_2017}: bills 0.8 % a year real; volatility 1 %: assumption"
    ),
    "real_estate": ClassAssumption(0.03, 0.12, "assumption (no published table used)"),
    "commodity": ClassAssumption(0.01, 0.20, "assumption (no published table used)"),
    "crypto": ClassAssumption(0.0, 0.70, "assumption: no long-run evidence; no return expected"),
    "derivative": ClassAssumption(0.0, 0.30, "assumption (no published table used)"),
    "other": ClassAssumption(
        0.03, 0.10, "assumption: securities of unknown class, between equities and cash"
    ),
}
# Debts are counted in the starting wealth at their value and not modelled as an asset:
# the blend is over the assets only.
NOT_BLENDED = frozenset({"liability"})
