"""The projection model against closed forms: zero volatility is compound growth to the cent;
with volatility the percentiles are the lognormal's within the sampling error of 10,000
paths; the searches (saving for a goal, the month one can stop working) are exact and
monotone."""

from __future__ import annotations

import math
from datetime import date
from decimal import Context, Decimal
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from wealth_pipeline.projection import model
from wealth_pipeline.projection.assumptions import PERCENTILES
from wealth_pipeline.projection.inputs import (
    ProjectionInputError,
    choose_returns,
    median_saving,
    real_monthly_returns,
)
from wealth_pipeline.projection.service import cents

PATHS = 10_000
WIDE = Context(prec=60)


def closed_form(start: Decimal, saving: Decimal, yearly: Decimal, months: int) -> list[Decimal]:
    """W_t = W_0 q^t + c (q^t - 1) / (q - 1), q = (1 + g)^(1/12), in 60-digit decimals."""
    q = WIDE.power(1 + yearly, WIDE.divide(Decimal(1), Decimal(12)))
    values = []
    for t in range(months + 1):
        qt = WIDE.power(q, t)
        values.append(start * qt + saving * (qt - 1) / (q - 1))
    return [v.quantize(Decimal("0.01")) for v in values]


def test_zero_volatility_is_the_compound_growth_path_to_the_cent() -> None:
    returns = model.parametric(0.05, 0.0, "test")
    drawn = model.Paths(model.growth_factors(returns, 100, 600, seed=1))
    wealth = drawn.wealth(123456.78, model.Schedule(512.34).contributions(600))
    bands = model.bands(wealth)
    expected = closed_form(Decimal("123456.78"), Decimal("512.34"), Decimal("0.05"), 600)
    for month in range(1, 601):
        shown = {cents(value) for value in bands[month]}
        assert shown == {expected[month]}, month
    assert expected[600] > Decimal("2700000")  # 50 years of compounding, still to the cent


def test_zero_volatility_withdrawals_after_a_change_run_out_and_stay_at_zero() -> None:
    returns = model.parametric(0.0, 0.0, "test")
    drawn = model.Paths(model.growth_factors(returns, 10, 60, seed=1))
    schedule = model.Schedule(100.0, change_month=12, after_change=-1000.0)
    wealth = drawn.wealth(5000.0, schedule.contributions(60))
    # 5000 + 12 x 100 = 6200, then 1000 a month: 200 left after month 18, then nothing.
    assert wealth[12, 0] == pytest.approx(6200.0)
    assert wealth[18, 0] == pytest.approx(200.0)
    assert (wealth[19:] == 0).all()


@pytest.mark.parametrize("month", [12, 120, 600])
def test_percentiles_match_the_lognormal_closed_form_within_sampling_error(month: int) -> None:
    """Without saving, W_t = W_0 exp(N(t m, t s^2)): percentile p is W_0 exp(t m + z_p s
    sqrt(t)). The sample p-quantile of n paths has a standard error of
    sqrt(p (1 - p) / n) / phi(z_p) in units of the log's s.d. (0.0125 s.d. at the median,
    0.0218 at the 5th and 95th percentile for n = 10,000): the test allows 4 of them."""
    real_return, volatility = 0.05, 0.15
    returns = model.parametric(real_return, volatility, "test")
    drawn = model.Paths(
        model.growth_factors(returns, PATHS, month, seed=model.seed_for(7, "2026-W49"))
    )
    bands = model.bands(drawn.wealth(100_000.0, np.zeros(month)))[month]
    mean = month * math.log1p(real_return) / 12
    sd = volatility * math.sqrt(month / 12)
    normal = NormalDist()
    for p, simulated in zip(PERCENTILES, bands, strict=True):
        z = normal.inv_cdf(p / 100)
        expected = 100_000.0 * math.exp(mean + z * sd)
        standard_error = math.sqrt(p / 100 * (1 - p / 100) / PATHS) / normal.pdf(z) * sd
        assert abs(math.log(simulated / expected)) <= 4 * standard_error, (p, simulated, expected)


def test_bands_are_numpys_percentiles_and_ordered() -> None:
    drawn = model.Paths(model.growth_factors(model.parametric(0.04, 0.2, "t"), 2000, 36, seed=3))
    wealth = drawn.wealth(1000.0, np.full(36, 50.0))
    ours = model.bands(wealth)
    np.testing.assert_allclose(ours, np.percentile(wealth, PERCENTILES, axis=1).T, rtol=1e-12)
    assert (np.diff(ours, axis=1) >= 0).all()


def test_the_same_week_draws_the_same_paths_and_another_week_others() -> None:
    returns = model.parametric(0.04, 0.15, "t")
    one = model.growth_factors(returns, 100, 12, model.seed_for(1, "2026-W49"))
    again = model.growth_factors(returns, 100, 12, model.seed_for(1, "2026-W49"))
    other = model.growth_factors(returns, 100, 12, model.seed_for(1, "2026-W50"))
    assert (one == again).all()
    assert not (one == other).all()


def test_a_goal_already_reached_has_probability_one() -> None:
    drawn = model.Paths(model.growth_factors(model.parametric(0.0, 0.5, "t"), PATHS, 24, seed=5))
    assert model.paths_reaching(drawn, 300_000.0, model.Schedule(-5000.0), 250_000.0, 24) == PATHS
    assert model.saving_for(drawn, 300_000.0, model.Schedule(0.0), 250_000.0, 24, 0.8) == 0.0


def test_the_saving_found_for_a_goal_is_the_least_to_the_cent() -> None:
    drawn = model.Paths(model.growth_factors(model.parametric(0.04, 0.15, "t"), PATHS, 48, seed=9))
    schedule = model.Schedule(0.0)
    for probability in (0.5, 0.8):
        saving = model.saving_for(drawn, 50_000.0, schedule, 120_000.0, 48, probability)
        assert saving is not None and saving > 0
        enough = model.needed(PATHS, probability)

        def reaching(s: float) -> int:
            return model.paths_reaching(drawn, 50_000.0, model.Schedule(s), 120_000.0, 48)

        assert reaching(saving) >= enough
        assert reaching(round(saving - 0.01, 2)) < enough
    # 80 % needs more than 50 %.
    assert model.saving_for(drawn, 50_000.0, schedule, 120_000.0, 48, 0.8) > model.saving_for(
        drawn, 50_000.0, schedule, 120_000.0, 48, 0.5
    )


def test_stop_working_is_monotone_in_spending_and_exact() -> None:
    drawn = model.Paths(
        model.growth_factors(model.parametric(0.04, 0.12, "t"), PATHS, 480, seed=11)
    )
    months = []
    for spending in (500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0, 4000.0, 8000.0):
        month = model.stop_working_month(drawn, 200_000.0, 1500.0, spending, 480)
        months.append(math.inf if month is None else month)
        if month not in (None, 0):
            enough = model.needed(PATHS, 0.9)
            assert model.lasting_paths(drawn, 200_000.0, 1500.0, spending, month, 480) >= enough
            assert model.lasting_paths(drawn, 200_000.0, 1500.0, spending, month - 1, 480) < enough
    assert months == sorted(months)
    assert months[0] == 0  # 200k lasts 40 years at 500 a month
    assert months[-1] > months[1]


def test_lasting_paths_agree_with_the_simulated_paths() -> None:
    """The one-comparison count of `lasting_paths` against the full simulation: every month
    after the stop above zero."""
    drawn = model.Paths(model.growth_factors(model.parametric(0.03, 0.15, "t"), 2000, 240, seed=4))
    for start, saving, spending, stop in (
        (100_000.0, 1000.0, 800.0, 0),
        (100_000.0, 1000.0, 800.0, 60),
        (50_000.0, -200.0, 1500.0, 100),
        (0.0, 0.0, 100.0, 0),
    ):
        flows = np.full(240, -spending)
        flows[:stop] = saving
        wealth = drawn.wealth(start, flows, 240)
        simulated = int((wealth[stop + 1 :] > 0).all(axis=0).sum())
        assert model.lasting_paths(drawn, start, saving, spending, stop, 240) == simulated


def test_a_bootstrap_of_one_constant_return_is_compound_growth() -> None:
    returns = model.bootstrap([0.01] * 40, "t")
    drawn = model.Paths(model.growth_factors(returns, 50, 24, seed=1))
    wealth = drawn.wealth(1000.0, np.zeros(24))
    assert wealth[24] == pytest.approx(np.full(50, 1000.0 * 1.01**24), rel=1e-12)


def test_blend_of_one_class_is_that_class() -> None:
    real_return, volatility, weights = model.blend({"equity": 1000.0, "liability": -300.0})
    assert real_return == pytest.approx(0.051)
    assert volatility == pytest.approx(0.174)
    assert weights == {"equity": 1.0}
    mixed_return, mixed_vol, _ = model.blend({"equity": 500.0, "cash": 500.0})
    assert 0.008 < mixed_return < 0.051
    assert mixed_vol < 0.174 / 2 + 0.01


# --- inputs from the monthly series ---------------------------------------------------------


def test_saving_is_the_median_of_the_last_twelve_complete_months() -> None:
    ends = pd.date_range("2025-09-30", periods=15, freq="ME").date
    values = [Decimal(v) for v in
              (9999, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 5000)]  # fmt: skip
    flows = pd.Series(values, index=list(ends), dtype=object)
    # As of 2026-11-20: November is still running; the twelve months Nov 2025 .. Oct 2026.
    assert median_saving(flows, date(2026, 11, 20)) == Decimal("750.00")
    # A month without flows inside the span counts as zero.
    gaps = flows.drop(index=[ends[5], ends[6], ends[7]])
    assert median_saving(gaps, date(2026, 11, 20)) == Decimal("600.00")
    assert median_saving(pd.Series([], dtype=object), date(2026, 11, 20)) is None
    assert median_saving(None, date(2026, 11, 20)) is None


def test_returns_are_deflated_and_the_method_follows_the_history() -> None:
    ends = list(pd.date_range("2022-01-31", periods=40, freq="ME").date)
    twr = pd.Series([0.01] * 40, index=ends, dtype=float)
    real = real_monthly_returns(twr, date(2025, 3, 31), Decimal("0.02"))
    assert len(real) == 39  # April 2025 is not over
    assert real[0] == pytest.approx(1.01 / 1.02 ** (1 / 12) - 1)
    allocation = {"equity": Decimal("1000"), "cash": Decimal("1000")}
    chosen = choose_returns("auto", allocation, real)
    assert chosen.method == "bootstrap" and "39 months" in chosen.reason
    short = choose_returns("auto", allocation, real[:35])
    assert short.method == "parametric" and "only 35" in short.reason
    assert choose_returns("parametric", allocation, real).method == "parametric"
    with pytest.raises(ProjectionInputError, match="needs 36 complete months"):
        choose_returns("bootstrap", allocation, real[:10])
    with pytest.raises(ProjectionInputError, match="method must be one of"):
        choose_returns("magic", allocation, real)


def test_the_inflation_assumption_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wealth_pipeline.projection.assumptions import default_inflation

    monkeypatch.delenv("WEALTH_PROJECTION_INFLATION", raising=False)
    assert default_inflation() == Decimal("0.02")
    monkeypatch.setenv("WEALTH_PROJECTION_INFLATION", "0.011")
    assert default_inflation() == Decimal("0.011")
    for bad in ("two", "5", "nan"):
        monkeypatch.setenv("WEALTH_PROJECTION_INFLATION", bad)
        with pytest.raises(ValueError, match="WEALTH_PROJECTION_INFLATION"):
            default_inflation()
