"""The SQL models' loader: dependencies from ref(), errors naming the file, both dialects,
and the folder found in a source checkout and in an installed package."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from wealth_pipeline.marts.models import (
    ModelError,
    default_models,
    load_models,
    models_folder,
    parse_model,
)

ROOT = Path(__file__).resolve().parent.parent
SELECT = "{{ config(rebuild='user') }} SELECT user_id FROM "


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.sql"
    path.write_text(text)
    return path


def test_the_shipped_models_in_dependency_order() -> None:
    models = default_models()
    names = [model.name for model in models]
    assert set(names) == {
        "mart_account_daily",
        "mart_net_worth_daily",
        "mart_net_worth_monthly",
        "mart_breakdowns",
        "mart_holdings",
        "mart_returns_daily",
    }
    for model in models:
        for ref in model.refs:
            assert names.index(ref) < names.index(model.name)
    by_name = {model.name: model for model in models}
    assert by_name["mart_net_worth_monthly"].refs == ("mart_net_worth_daily",)
    # the net worth reads the returns total's sums, which read the accounts' days
    assert by_name["mart_net_worth_daily"].refs == ("mart_returns_daily",)
    assert by_name["mart_returns_daily"].refs == ("mart_account_daily",)
    assert set(by_name["mart_holdings"].refs) == {"mart_account_daily"}
    assert by_name["mart_account_daily"].rebuild == "day"
    assert by_name["mart_net_worth_monthly"].rebuild == "month"
    assert by_name["mart_breakdowns"].rebuild == "user"
    assert all(model.description for model in models)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_every_model_renders_plain_sql(dialect: str) -> None:
    for model in default_models():
        sql = model.render(dialect)
        assert "{{" not in sql and "{%" not in sql, model.name
        assert "mart_scope" in sql  # every model is limited to the users in scope
        assert " AVG(" not in sql.upper()  # money is never averaged in SQL
    daily = next(m for m in default_models() if m.name == "mart_account_daily")
    if dialect == "sqlite":
        assert "date(ch.next, '+1 day')" in daily.render(dialect)
    else:
        assert "CAST(day + 1 AS DATE)" in daily.render(dialect)


def test_a_missing_ref_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "mart_account_daily", SELECT + "{{ ref('mart_nothing') }}")
    with pytest.raises(ModelError, match=r"mart_account_daily\.sql: ref\('mart_nothing'\)"):
        load_models(tmp_path)


def test_a_circular_ref_names_the_files(tmp_path: Path) -> None:
    write(tmp_path, "mart_account_daily", SELECT + "{{ ref('mart_net_worth_monthly') }}")
    write(tmp_path, "mart_net_worth_daily", SELECT + "{{ ref('mart_account_daily') }}")
    write(tmp_path, "mart_net_worth_monthly", SELECT + "{{ ref('mart_net_worth_daily') }}")
    with pytest.raises(ModelError, match="circular ref") as error:
        load_models(tmp_path)
    message = str(error.value)
    for name in ("mart_account_daily", "mart_net_worth_daily", "mart_net_worth_monthly"):
        assert f"{name}.sql" in message


def test_a_model_refing_itself_is_circular(tmp_path: Path) -> None:
    write(tmp_path, "mart_holdings", SELECT + "{{ ref('mart_holdings') }}")
    with pytest.raises(ModelError, match=r"mart_holdings\.sql: circular ref"):
        load_models(tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("mart_holdings", SELECT + "{{ source('secrets') }}", r"source\('secrets'\) is no"),
        ("mart_holdings", "SELECT 1", r"config\(rebuild=...\) must be one of day, month, user"),
        ("mart_holdings", "{{ config(rebuild='week') }} SELECT 1", r"not 'week'"),
        (
            "mart_holdings",
            "{{ config(rebuild='user', in_key_order=('oracle',)) }} SELECT 1",
            r"config\(in_key_order=...\) must list dialects of sqlite, postgresql",
        ),
        ("mart_holdings", SELECT + "{{ ref('x'", r"line 1"),  # a jinja syntax error
        ("mart_holdings", SELECT + "{{ no_such_variable }}", r"no_such_variable"),
        ("mart_whatever", SELECT + "users", r"no warehouse table 'mart_whatever'"),
    ],
)
def test_bad_models_fail_at_load_naming_the_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ModelError, match=re.escape(path.name) + ".*" + message):
        parse_model(path)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no \.sql models"):
        load_models(tmp_path)


def test_the_folder_in_a_source_checkout() -> None:
    assert models_folder() == ROOT / "dbt_like_sql"


def test_the_folder_in_an_installed_package(tmp_path: Path) -> None:
    """A wheel puts `dbt_like_sql/` beside `wealth_pipeline/` in site-packages."""
    site = tmp_path / "site-packages"
    (site / "wealth_pipeline").mkdir(parents=True)
    shutil.copytree(ROOT / "dbt_like_sql", site / "dbt_like_sql")
    assert models_folder(site) == site / "dbt_like_sql"
    assert [m.name for m in load_models(models_folder(site))] == [m.name for m in default_models()]


def test_the_folder_elsewhere_is_found_as_the_importable_data_package(tmp_path: Path) -> None:
    # No folder beside the package: `dbt_like_sql` is imported wherever it is installed.
    found = models_folder(tmp_path)
    assert (found / "mart_account_daily.sql").is_file()
    assert found.resolve() == (ROOT / "dbt_like_sql").resolve()


def test_the_package_ships_the_models() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "dbt_like_sql" in setuptools["packages"]["find"]["include"]
    assert "*.sql" in setuptools["package-data"]["dbt_like_sql"]
    assert (ROOT / "dbt_like_sql" / "__init__.py").is_file()
