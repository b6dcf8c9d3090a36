-- The user's total per day: the accounts' values and, over the accounts with flow data that
-- day, the net external flow (transfers between the user's own accounts left out: they are
-- `internal_transfers`, zero once both legs are booked the same day), income, costs, market
-- result and currency effect; the change of the other accounts is `unexplained`. The daily
-- return and its index are added by returns.daily.
{{ config(rebuild='day') }}
SELECT r.user_id,
       r.day,
       r.base_currency,
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
           AS unknown_count,
       CAST(NULL AS {{ ratio_type() }}) AS daily_return,
       CAST(NULL AS {{ ratio_type() }}) AS twr_index
  FROM {{ scope }} sc
 CROSS JOIN {{ ref('mart_account_returns_daily') }} r
 WHERE r.user_id = sc.user_id
   AND r.day >= sc.from_day
 GROUP BY r.user_id, r.day, r.base_currency
