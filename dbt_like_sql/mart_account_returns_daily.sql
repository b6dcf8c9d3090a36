-- Per account and day, where the change in value came from, in the base currency: value at
-- the start (the day before's end) and end, the net external flow (deposits, withdrawals,
-- transfers, other), income (dividends, interest), costs (fees, taxes) and the market result
-- (change in value - net external flow) on days whose flows are known (covered); otherwise
-- the whole change is unexplained. The currency effect and the daily return and its index are
-- added by returns.daily (Python: SQL never multiplies or divides money).
{{ config(rebuild='day') }}
WITH
flows AS (
    SELECT f.account_id,
           f.flow_date AS day,
           SUM(CASE WHEN f.kind IN ('deposit', 'withdrawal', 'transfer_in', 'transfer_out', 'other')
                    THEN f.amount_base_currency ELSE 0 END) AS external_flow,
           SUM(CASE WHEN f.kind IN ('deposit', 'withdrawal', 'transfer_in', 'transfer_out', 'other')
                     AND f.paired_flow_id IS NOT NULL
                    THEN f.amount_base_currency ELSE 0 END) AS paired_transfers,
           SUM(CASE WHEN f.kind IN ('dividend', 'interest')
                    THEN f.amount_base_currency ELSE 0 END) AS income,
           SUM(CASE WHEN f.kind IN ('fee', 'tax')
                    THEN f.amount_base_currency ELSE 0 END) AS costs,
           SUM(CASE WHEN f.amount_base_currency IS NULL
                      OR f.base_currency <> COALESCE(p.base_currency, {{ default_base_currency }})
                    THEN 1 ELSE 0 END) AS unconverted
      FROM {{ scope }} sc
     CROSS JOIN {{ source('financial_accounts') }} a
      JOIN {{ source('cash_flows') }} f ON f.account_id = a.id
      LEFT JOIN {{ source('profiles') }} p ON p.user_id = a.user_id
     WHERE a.user_id = sc.user_id
       AND f.flow_date >= sc.from_day
       AND f.flow_date <= {{ end_day }}
     GROUP BY f.account_id, f.flow_date
),
daily AS (
    -- the rebuilt days and the kept day before them (whose values start the first one)
    SELECT ad.user_id,
           ad.day,
           ad.account_id,
           ad.base_currency,
           ad.currency,
           ad.balance,
           ad.balance_base_currency,
           s.exchange_rate_used AS rate,
           sc.from_day
      FROM {{ scope }} sc
     CROSS JOIN {{ ref('mart_account_daily') }} ad
      LEFT JOIN {{ source('account_snapshots') }} s
        ON s.account_id = ad.account_id AND s.snapshot_date = ad.snapshot_date
     WHERE ad.user_id = sc.user_id
       AND ad.day >= sc.kept_through
),
lagged AS (
    SELECT d.*,
           LAG(d.day) OVER running AS prev_day,
           LAG(d.balance) OVER running AS prev_balance,
           LAG(d.balance_base_currency) OVER running AS prev_base,
           LAG(d.rate) OVER running AS prev_rate
      FROM daily d
    WINDOW running AS (PARTITION BY d.account_id ORDER BY d.day)
),
joined AS (
    SELECT l.user_id,
           l.day,
           l.account_id,
           l.base_currency,
           l.currency,
           CASE WHEN l.prev_day IS NULL THEN 0 ELSE l.prev_base END AS value_start,
           l.balance_base_currency AS value_end,
           CASE WHEN l.prev_day IS NULL THEN 0 ELSE l.prev_balance END AS value_start_own,
           l.prev_rate AS rate_start,
           l.rate AS rate_end,
           fl.external_flow,
           fl.paired_transfers,
           fl.income,
           fl.costs,
           CASE
               WHEN cv.account_id IS NOT NULL
                AND l.day >= cv.covered_from AND l.day <= cv.covered_through
                AND l.balance_base_currency IS NOT NULL
                -- the first day's change is the opening value: explained by flows only when
                -- they are known from before it (nothing was there), else not explained
                AND (l.prev_day IS NOT NULL OR cv.covered_from < l.day)
                AND (l.prev_day IS NULL OR l.prev_base IS NOT NULL)
                AND COALESCE(fl.unconverted, 0) = 0
               THEN 1 ELSE 0
           END AS is_covered
      FROM lagged l
      LEFT JOIN {{ source('cash_flow_coverage') }} cv ON cv.account_id = l.account_id
      LEFT JOIN flows fl ON fl.account_id = l.account_id AND fl.day = l.day
     WHERE l.day >= l.from_day
)
SELECT user_id,
       day,
       account_id,
       base_currency,
       currency,
       CASE WHEN is_covered = 1 THEN TRUE ELSE FALSE END AS covered,
       value_start,
       value_end,
       value_start_own,
       rate_start,
       rate_end,
       CASE WHEN is_covered = 1 THEN COALESCE(external_flow, 0) END AS external_flow,
       CASE WHEN is_covered = 1 THEN COALESCE(paired_transfers, 0) END AS paired_transfers,
       CASE WHEN is_covered = 1 THEN COALESCE(income, 0) END AS income,
       CASE WHEN is_covered = 1 THEN COALESCE(costs, 0) END AS costs,
       CASE WHEN is_covered = 1
            THEN value_end - value_start - COALESCE(external_flow, 0) END AS market_result,
       CAST(NULL AS {{ amount_type() }}) AS currency_effect,
       CASE WHEN is_covered = 0 THEN value_end - value_start END AS unexplained,
       CAST(NULL AS {{ ratio_type() }}) AS daily_return,
       CAST(NULL AS {{ ratio_type() }}) AS twr_index
  FROM joined
