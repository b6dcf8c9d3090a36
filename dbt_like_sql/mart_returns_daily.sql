-- The user's total per day: the accounts' values and, over the accounts with flow data that
-- day, the net external flow (transfers between the user's own accounts left out: they are
-- `internal_transfers`, zero once both legs are booked the same day), income, costs, market
-- result and currency effect; the change of the other accounts is `unexplained`. The day's
-- return is the covered accounts' market result over their capital (value at the start and
-- all their external flows, transfers included); the index chains it on from the kept day
-- before (see marts.returns_daily for the conventions).
{{ config(rebuild='day') }}
WITH
totals AS (
    SELECT r.user_id,
           r.day,
           MIN(r.base_currency) AS base_currency,  -- the user's: one per day
           COALESCE(SUM(r.value_start), 0) AS value_start,
           COALESCE(SUM(r.value_end), 0) AS value_end,
           COALESCE(SUM(CASE WHEN r.covered THEN r.value_start ELSE 0 END), 0) AS covered_value_start,
           COALESCE(SUM(CASE WHEN r.covered THEN r.value_end ELSE 0 END), 0) AS covered_value_end,
           COALESCE(SUM(CASE WHEN r.covered THEN r.external_flow - r.paired_transfers ELSE 0 END), 0)
               AS external_flow,
           COALESCE(SUM(CASE WHEN r.covered THEN r.paired_transfers ELSE 0 END), 0)
               AS internal_transfers,
           COALESCE(SUM(CASE WHEN r.covered THEN r.income ELSE 0 END), 0) AS income,
           COALESCE(SUM(CASE WHEN r.covered THEN r.costs ELSE 0 END), 0) AS costs,
           COALESCE(SUM(CASE WHEN r.covered THEN r.market_result ELSE 0 END), 0) AS market_result,
           COALESCE(SUM(CASE WHEN r.covered THEN r.currency_effect ELSE 0 END), 0) AS currency_effect,
           COALESCE(SUM(r.unexplained), 0) AS unexplained,
           COUNT(*) AS account_count,
           SUM(CASE WHEN r.covered THEN 1 ELSE 0 END) AS covered_count,
           SUM(CASE WHEN r.value_end IS NULL OR r.value_start IS NULL THEN 1 ELSE 0 END)
               AS unknown_count
      FROM {{ scope }} sc
     CROSS JOIN {{ ref('mart_account_returns_daily') }} r
     WHERE r.user_id = sc.user_id
       AND r.day >= sc.from_day
       AND r.day > {{ earliest_kept_day }}  -- known when planning
     GROUP BY r.user_id, r.day  -- the key's order: no sort
),
returned AS (
    SELECT t.*,
           CASE WHEN t.covered_count = 0 THEN NULL
                WHEN t.covered_value_start + t.external_flow + t.internal_transfers > 0
                THEN {{ ratio('t.market_result',
                              't.covered_value_start + t.external_flow + t.internal_transfers') }}
                WHEN t.covered_value_start + t.external_flow + t.internal_transfers = 0
                 AND t.market_result = 0 THEN 0.0
           END AS daily_return
      FROM totals t
),
indexed AS (
    SELECT user_id,
           day,
           {{ chain_product }}(factor) OVER (PARTITION BY user_id ORDER BY day) AS twr_index
      FROM (
        -- the kept day before starts the chain
        SELECT k.user_id, k.day, COALESCE(k.twr_index, 1.0) AS factor
          FROM {{ scope }} sc
          JOIN {{ this }} k ON k.user_id = sc.user_id AND k.day = sc.kept_through
        UNION ALL
        SELECT user_id, day, COALESCE(CAST(1 AS DOUBLE PRECISION) + daily_return, 1.0)
          FROM returned
      ) factors
)
SELECT r.user_id,
       r.day,
       r.base_currency,
       r.value_start,
       r.value_end,
       r.covered_value_start,
       r.covered_value_end,
       r.external_flow,
       r.internal_transfers,
       r.income,
       r.costs,
       r.market_result,
       r.currency_effect,
       r.unexplained,
       r.account_count,
       r.covered_count,
       r.unknown_count,
       r.daily_return,
       i.twr_index
  FROM returned r
  JOIN indexed i ON i.user_id = r.user_id AND i.day = r.day
