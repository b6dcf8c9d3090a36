"""The SQL models of `dbt_like_sql/`: found, parsed, ordered by their `ref()`s, rendered.

A model is one `.sql` file holding one SELECT, templated with jinja2. Its name is the file's
stem and the mart table it fills (the table must exist in `warehouse.schema`). The template
sees:

- `ref('model')`: another model's table; it makes this model depend on (build after) it;
- `source('table')`: a warehouse table the pipeline writes (checked at load);
- `config(rebuild='day' | 'month' | 'user')`: which of a user's rows a rebuild replaces:
  from the user's first changed day (`day >= from_day`), from that day's month
  (`month >= from_month`), or all of them. A `day` model that reads `scope_accounts` (a
  table keyed by user, day and `account_id`) is rebuilt per account, from each account's
  day (`Model.per_account`); `config(..., analyze='key')`: on PostgreSQL, after a large
  build, refresh the statistics of the key columns only (enough when the models after it
  only filter it by user and day: the other columns' histograms cost more than the plan gains);
  `config(..., in_key_order=('sqlite',))`: on these dialects the SELECT yields its rows in the
  table's key order itself, so the build does not sort them again;
- `this`: the model's own table (its rows before `from_day` are kept, so they can seed it);
- `scope`: the table of users to rebuild (`user_id`, `from_day`, `from_month`, and
  `kept_through`, the day before `from_day`);
- `scope_accounts`: the accounts whose daily rows to rebuild (`account_id`, `user_id`,
  `from_day`, `kept_through`); it may list an account that no longer exists (removed: its
  rows are deleted, none inserted);
- `end_day`: the marts' last day (a bind parameter);
- `earliest_kept_day`: the earliest `kept_through` in `scope` (a bind parameter): a redundant
  bound that lets PostgreSQL plan a one-day build as the few rows it reads, not a third of
  the table;
- `warehouse.dialect.sql_helpers` (`next_day`, `month_start`, `json_object`, `json_agg`,
  ...), `greatest`, and `dialect` (`sqlite` or
  `postgresql`) for what differs between the two databases;
- for the returns: `ratio(num, den)`, two amounts' quotient as a double, rounded once (as
  Python's `int / int` of the scaled amounts); `currency_effect(value, rate_start, rate_end)`,
  value x rate change rounded half-even to the amount scale, exact (NUMERIC on PostgreSQL;
  64-bit integers on SQLite, `CURRENCY_EFFECT_FUNCTION` where the product overflows);
  `half_even(expr)`, PostgreSQL: an exact NUMERIC product rounded half-even to that scale;
  `chain_product`, PostgreSQL's running product aggregate (migration 0011);
- `label(kind, expr)`, `account_asset_class(expr)`: display names and the asset class of an
  account without positions (`marts.categories`); `default_base_currency`.

A missing or circular `ref()`, an unknown source, a template error or an unknown table fails
at load with a `ModelError` naming the file.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

import wealth_pipeline
from wealth_pipeline import money
from wealth_pipeline.marts.categories import account_asset_class_sql, label_sql
from wealth_pipeline.money import DEFAULT_BASE_CURRENCY
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import metadata

FOLDER_NAME = "dbt_like_sql"
REBUILD_MODES = ("day", "month", "user")
SCOPE_TABLE = "mart_scope"
SCOPE_ACCOUNTS_TABLE = "mart_scope_accounts"
# SQLite: registered on the build's connection (marts.returns_daily); PostgreSQL: migration 0011.
CURRENCY_EFFECT_FUNCTION = "wealth_currency_effect"
CHAIN_PRODUCT_AGGREGATE = "wealth_chain_product"


class ModelError(ValueError):
    """A model that cannot be loaded or rendered; the message names its file."""


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    template: str
    refs: tuple[str, ...]
    sources: tuple[str, ...]
    rebuild: str
    description: str
    per_account: bool = False  # reads `scope_accounts`: rows replaced per account
    analyze_key_only: bool = False  # config(analyze='key'): see the module's docstring
    in_key_order: tuple[str, ...] = ()  # dialects whose rows come out in key order

    def render(self, dialect: str) -> str:
        """The model's SELECT for `dialect` (`sqlite` or `postgresql`), rendered once: jinja
        compiles a template in milliseconds, as long as building a day's rows."""
        return _rendered(self.path, self.template, self.name, dialect)


def models_folder(package_root: Path | None = None) -> Path:
    """Where the models live: `dbt_like_sql/` beside the `wealth_pipeline` package.

    That is the repository root in a source checkout (editable install or not) and
    site-packages in an installed wheel, which ships the folder as the `dbt_like_sql` data
    package; an importable `dbt_like_sql` anywhere else is the fallback.
    """
    root = package_root or Path(wealth_pipeline.__file__).resolve().parent.parent
    beside = root / FOLDER_NAME
    if beside.is_dir():
        return beside
    spec = importlib.util.find_spec(FOLDER_NAME)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise ModelError(f"no {FOLDER_NAME}/ folder beside {root} and no installed {FOLDER_NAME}")


class _Context:
    """What a template can call; records refs, sources and config while rendering."""

    def __init__(self, dialect_name: str, name: str) -> None:
        if dialect_name not in dialect.NAMES:
            raise ModelError(f"unsupported SQL dialect {dialect_name!r}")
        self.dialect = dialect_name
        self.name = name
        self.refs: list[str] = []
        self.sources: list[str] = []
        self.config: dict[str, Any] = {}

    def ref(self, name: str) -> str:
        self.refs.append(name)
        return name

    def source(self, name: str) -> str:
        self.sources.append(name)
        return name

    def set_config(self, **values: Any) -> str:
        self.config.update(values)
        return ""

    def variables(self) -> dict[str, Any]:
        sqlite = dialect.is_sqlite(self.dialect)
        # What the two databases spell differently (`warehouse.dialect`), `greatest` (one
        # CASE, the same on both) and the returns' exact arithmetic.
        helpers: dict[str, Callable[..., str]] = {
            **dialect.sql_helpers(self.dialect),
            "greatest": lambda a, b: f"(CASE WHEN {a} > {b} THEN {a} ELSE {b} END)",
            "ratio": lambda num, den: (
                f"CAST({num} AS REAL) / ({den})"  # scaled integers: exact as doubles
                if sqlite
                else f"CAST(({num}) * {SCALE} AS DOUBLE PRECISION) "
                f"/ CAST(({den}) * {SCALE} AS DOUBLE PRECISION)"
            ),
            "currency_effect": lambda value, start, end: (
                effect_in_integers_sql(value, start, end)
                if sqlite
                else _half_even_sql(f"(({value}) * (({end}) - ({start})))")
            ),
            "half_even": _half_even_sql,
        }
        return {
            "ref": self.ref,
            "source": self.source,
            "config": self.set_config,
            "this": self.name,
            "scope": SCOPE_TABLE,
            "scope_accounts": SCOPE_ACCOUNTS_TABLE,
            "end_day": ":end_day",
            "earliest_kept_day": ":earliest_kept_day",
            "dialect": self.dialect,
            "default_base_currency": f"'{DEFAULT_BASE_CURRENCY}'",
            "chain_product": CHAIN_PRODUCT_AGGREGATE,
            "label": label_sql,
            "account_asset_class": account_asset_class_sql,
            **helpers,
        }


SCALE = 10**money.AMOUNT_PLACES


def effect_in_integers_sql(value: str, start: str, end: str) -> str:
    """SQLite: value x rate change in integers (amount units x rate units), rounded half-even
    to the amount scale, exactly as `returns_daily.effect_units`. Where the product passes 64
    bits, SQLite makes it an inexact REAL (`typeof` tells): that Python function does it then.
    Most account-days of an account in another currency have a rate change, and a call into
    Python for each cost more than the rest of the day's returns."""
    product = f"(({value}) * (({end}) - ({start})))"
    unit = 10**money.RATE_PLACES
    half = unit // 2
    kept = f"({product} / {unit})"  # truncated toward zero; the rest has the product's sign
    rest = f"({product} % {unit})"
    away = f"CASE WHEN {product} < 0 THEN -1 ELSE 1 END"  # one unit further from zero
    return (
        f"(CASE WHEN typeof({product}) <> 'integer' "
        f"THEN {CURRENCY_EFFECT_FUNCTION}({value}, {start}, {end}) "
        f"ELSE {kept} + CASE WHEN {rest} NOT BETWEEN -{half} AND {half} THEN {away} "
        f"WHEN {rest} IN (-{half}, {half}) AND {kept} % 2 <> 0 THEN {away} "
        f"ELSE 0 END END)"
    )


def _half_even_sql(product: str) -> str:
    """An exact NUMERIC rounded half-even to the amount scale (PostgreSQL's ROUND rounds half
    away from zero)."""
    places = money.AMOUNT_PLACES
    kept = f"TRUNC({product}, {places})"
    half = f"{Decimal(5).scaleb(-places - 1)}"
    rest = f"ABS({product} - {kept})"
    return (
        f"(CASE WHEN {rest} > {half} OR ({rest} = {half} AND MOD({kept} * {SCALE}, 2) <> 0) "
        f"THEN {kept} + SIGN({product}) * {Decimal(1).scaleb(-places)} ELSE {kept} END)"
    )


_environment = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)


def _render(path: Path, template: str, context: _Context) -> tuple[str, _Context]:
    try:
        sql = _environment.from_string(template).render(context.variables())
    except jinja2.TemplateError as error:
        where = f" (line {error.lineno})" if getattr(error, "lineno", None) else ""
        raise ModelError(f"{path.name}{where}: {error}") from None
    return sql, context


@cache
def _rendered(path: Path, template: str, name: str, dialect: str) -> str:
    return _render(path, template, _Context(dialect, name))[0]


def _description(template: str) -> str:
    """The model's leading `--` comment lines."""
    lines = []
    for line in template.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        lines.append(stripped[2:].strip())
    return " ".join(lines).strip()


def parse_model(path: Path) -> Model:
    template = path.read_text(encoding="utf-8")
    name = path.stem
    sql, context = _render(path, template, _Context("sqlite", name))
    if name not in metadata.tables:
        raise ModelError(f"{path.name}: no warehouse table {name!r} to build (warehouse.schema)")
    for source in context.sources:
        if source not in metadata.tables:
            raise ModelError(f"{path.name}: source({source!r}) is no warehouse table")
    rebuild = context.config.get("rebuild")
    if rebuild not in REBUILD_MODES:
        raise ModelError(
            f"{path.name}: config(rebuild=...) must be one of {', '.join(REBUILD_MODES)}, "
            f"not {rebuild!r}"
        )
    analyze = context.config.get("analyze", "all")
    if analyze not in ("all", "key"):
        raise ModelError(
            f"{path.name}: config(analyze=...) must be 'all' or 'key', not {analyze!r}"
        )
    in_key_order = tuple(context.config.get("in_key_order", ()))
    if not set(in_key_order) <= set(dialect.NAMES):
        raise ModelError(
            f"{path.name}: config(in_key_order=...) must list dialects of "
            f"{', '.join(dialect.NAMES)}, not {in_key_order!r}"
        )
    return Model(
        name=name,
        path=path,
        template=template,
        refs=tuple(dict.fromkeys(context.refs)),
        sources=tuple(dict.fromkeys(context.sources)),
        rebuild=rebuild,
        description=_description(template),
        per_account=SCOPE_ACCOUNTS_TABLE in sql,
        analyze_key_only=analyze == "key",
        in_key_order=in_key_order,
    )


def order_models(models: Sequence[Model]) -> list[Model]:
    """`models` so that each comes after the models it refs (file name order otherwise)."""
    by_name = {model.name: model for model in models}
    for model in models:
        for ref in model.refs:
            if ref not in by_name:
                raise ModelError(f"{model.path.name}: ref({ref!r}) names no model")
    ordered: list[Model] = []
    state: dict[str, str] = {}

    def visit(model: Model, path: list[Model]) -> None:
        if state.get(model.name) == "done":
            return
        if state.get(model.name) == "visiting":
            cycle = [*path[path.index(model) :], model]
            raise ModelError(
                f"{model.path.name}: circular ref: "
                + " -> ".join(f"{m.name} ({m.path.name})" for m in cycle)
            )
        state[model.name] = "visiting"
        for ref in model.refs:
            visit(by_name[ref], [*path, model])
        state[model.name] = "done"
        ordered.append(model)

    for model in sorted(models, key=lambda m: m.name):
        visit(model, [])
    return ordered


def load_models(folder: Path | None = None) -> list[Model]:
    """Every model of `folder` (default: `models_folder()`), in build order."""
    folder = folder or models_folder()
    paths = sorted(folder.glob("*.sql"))
    if not paths:
        raise ModelError(f"{folder}: no .sql models")
    return order_models([parse_model(path) for path in paths])


@cache
def default_models() -> tuple[Model, ...]:
    """The shipped models, loaded once per process."""
    return tuple(load_models())
