"""Exact decimal columns on both backends.

PostgreSQL stores `NUMERIC(28, scale)`. SQLite has no exact decimal type (SQLAlchemy's
`Numeric` goes through REAL there, and TEXT breaks SUM and ordering), so the value is stored
as a 64-bit integer count of 10**-scale units: SUM, ORDER BY and comparisons in SQL stay exact
and agree with Python's Decimal. The limit is int64 (SQLite raises "integer overflow" rather than
round): about 9.2e14 for a sum of amounts, 9.2e6 for rates, which are never summed. Either way a value must already be at the column's scale:
rounding belongs where a value is produced, not silently in storage.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from wealth_pipeline import money
from wealth_pipeline.warehouse.dialect import check_places, from_units, stores_units, to_units

# Row ids are 32-bit on PostgreSQL (SERIAL): a larger id names no row on either backend, and
# is refused before any query (SQLite would overflow at 2**63, PostgreSQL raise DataError).
MAX_ID = 2**31 - 1


class ExactDecimal(TypeDecorator[Decimal]):
    impl = Numeric
    cache_ok = True
    places: int  # set by each kind of column below

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if stores_units(dialect):
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(28, self.places, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = money.to_decimal(value)
        if stores_units(dialect):
            return to_units(exact, self.places)  # refuses more places, or more than int64
        return check_places(exact, self.places)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if stores_units(dialect):
            if isinstance(value, float):
                raise TypeError(
                    "SQLite returned a float for an exact column: the SQL mixed it with a REAL"
                )
            return from_units(value, self.places)
        return money.quantize(Decimal(value), self.places)

    def copy(self, **kw: Any) -> ExactDecimal:
        return type(self)()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Amount(ExactDecimal):
    """Balances and values: 4 decimal places."""

    places = money.AMOUNT_PLACES
    cache_ok = True


class Rate(ExactDecimal):
    """Exchange rates: 12 decimal places."""

    places = money.RATE_PLACES
    cache_ok = True


class Quantity(ExactDecimal):
    """Units held: 8 decimal places (satoshi precision)."""

    places = money.QUANTITY_PLACES
    cache_ok = True


class Price(ExactDecimal):
    """Price per unit: 10 decimal places."""

    places = money.PRICE_PLACES
    cache_ok = True
