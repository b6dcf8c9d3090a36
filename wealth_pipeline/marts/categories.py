"""Names the breakdowns show, and the asset class of an account that reports no positions.

Rendered into the SQL models as CASE expressions (`label`, `account_asset_class`), so the
marts hold display names and readers never map keys themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

ACCOUNT_TYPE_LABELS = {
    "checking": "Checking",
    "savings": "Savings",
    "brokerage": "Brokerage",
    "retirement": "Retirement",
    "credit": "Credit card",
    "loan": "Loan",
    "other": "Other",
}

ASSET_CLASS_LABELS = {
    "equity": "Equities",
    "fixed_income": "Fixed income",
    "cash": "Cash",
    "crypto": "Crypto",
    "commodity": "Commodities",
    "real_estate": "Real estate",
    "fund": "Funds",
    "derivative": "Derivatives",
    "liability": "Liabilities",
    "other": "Other",
}

# An account without positions counts whole in one asset class: deposits are cash, debts
# are liabilities (negative balances), anything else is "other" (a brokerage or pension
# account whose broker reports no positions holds securities of unknown class).
ACCOUNT_TYPE_ASSET_CLASS = {
    "checking": "cash",
    "savings": "cash",
    "credit": "liability",
    "loan": "liability",
    "brokerage": "other",
    "retirement": "other",
    "other": "other",
}

LABELS: Mapping[str, Mapping[str, str]] = {
    "account_type": ACCOUNT_TYPE_LABELS,
    "asset_class": ASSET_CLASS_LABELS,
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def case_sql(expression: str, mapping: Mapping[str, str], default: str) -> str:
    """`CASE expression WHEN key THEN value ... ELSE default END` (SQL text)."""
    whens = " ".join(f"WHEN {_quote(k)} THEN {_quote(v)}" for k, v in mapping.items())
    return f"(CASE {expression} {whens} ELSE {default} END)"


def label_sql(kind: str, expression: str) -> str:
    """The display name of `expression`'s value (unknown values show as they are)."""
    return case_sql(expression, LABELS[kind], expression)


def account_asset_class_sql(account_type: str) -> str:
    return case_sql(account_type, ACCOUNT_TYPE_ASSET_CLASS, "'other'")
