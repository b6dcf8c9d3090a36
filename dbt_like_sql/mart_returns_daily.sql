-- The user's total per day: the accounts' values (the net worth: `mart_net_worth_daily` reads
-- it here, with the count of accounts whose carried snapshot is unconverted) and, over the
-- accounts with flow data that day, the net external flow (transfers between the user's own
-- accounts left out: they are `internal_transfers`, zero once both legs are booked the same
-- day), income, costs, market result and currency effect; the change of the other accounts
-- is `unexplained`. The day's
-- return is the covered accounts' market result over their capital (value at the start and
-- all their external flows, transfers included); the index chains it on from the kept day
-- before (see marts.returns_daily for the conventions).
{{ config(rebuild='day') }}
WITH
sums AS (
    -- the flows and results of an account-day are NULL unless it is covered, so their sums
    -- are the covered accounts' (SUM skips NULL)
    SELECT sc.user_id,
           r.day,
           MIN(r.base_currency) AS base_currency,  -- the user's: one per day
           COALESCE(SUM(r.value_start), 0) AS value_start,
           COALESCE(SUM(r.balance_base_currency), 0) AS value_end,
           COALESCE(SUM(CASE WHEN r.covered THEN r.balance_base_currency END), 0)
               AS covered_value_end,
           COALESCE(SUM(r.external_flow), 0) AS all_external_flows,
           COALESCE(SUM(r.paired_transfers), 0) AS internal_transfers,
           COALESCE(SUM(r.income), 0) AS income,
           COALESCE(SUM(r.costs), 0) AS costs,
           COALESCE(SUM(r.market_result), 0) AS market_result,
           COALESCE(SUM(r.currency_effect), 0) AS currency_effect,
           COALESCE(SUM(r.unexplained), 0) AS unexplained,
           COUNT(*) AS account_count,
           COUNT(r.market_result) AS covered_count,
           COUNT(*) - COUNT(r.balance_base_currency + r.value_start) AS unknown_count,
           COUNT(*) - COUNT(r.balance_base_currency) AS unconverted_count
      FROM {{ scope }} sc
     CROSS JOIN {{ ref('mart_account_daily') }} r
     WHERE r.user_id = sc.user_id
       AND r.day >= sc.from_day
       AND r.day > {{ earliest_kept_day }}  -- known when planning
     -- the order of the scan (the scope's users, each one's rows by day): SQLite groups as
     -- it reads, with no sort (it does not see that r.user_id orders the rows as sc.user_id)
     GROUP BY sc.user_id, r.day
),
totals AS (
    -- transfers between own accounts (paired) are not the user's external flows; the covered
    -- accounts' value at the start is their value at the end less what explains the change
    SELECT s.*,
           s.all_external_flows - s.internal_transfers AS external_flow,
           s.covered_value_end - s.market_result - s.all_external_flows AS covered_value_start
      FROM sums s
),
returned AS (
    SELECT t.*,
           CASE WHEN t.covered_count = 0 THEN NULL
                WHEN t.covered_value_start + t.external_flow + t.internal_transfers > 0
                THEN {{ ratio('t.market_result',
                              't.covered_value_start + t.external_flow + t.internal_transfers') }}
                WHEN t.covered_value_start + t.external_flow + t.internal_transfers = 0
                 AND t.market_result = 0 THEN 0.0
           END AS daily_return,
           -- the kept row's index starts the user's first rebuilt day (one key lookup)
           CASE WHEN t.first_rebuilt
                THEN (SELECT k.twr_index
                        FROM {{ scope }} sc
                        JOIN {{ this }} k ON k.user_id = sc.user_id AND k.day = sc.kept_through
                       WHERE sc.user_id = t.user_id)
           END AS index_before
      FROM (
        SELECT totals.*,
               ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY day) = 1 AS first_rebuilt
          FROM totals
      ) t
)
SELECT user_id,
       day,
       base_currency,
       value_start,
       value_end,
       covered_value_start,
       covered_value_end,
       external_flow,
       internal_transfers,
       income,
       costs,
       market_result,
       currency_effect,
       unexplained,
       account_count,
       covered_count,
       unknown_count,
       unconverted_count,
       daily_return,
       -- day by day from the kept index (1.0 at the start): the first factor is the kept index
       -- times the day's, so the product is the same as one chained from the first day on
       {{ chain_product }}(
           COALESCE(index_before, 1.0) * COALESCE(CAST(1 AS DOUBLE PRECISION) + daily_return, 1.0)
       ) OVER (PARTITION BY user_id ORDER BY day) AS twr_index
  FROM returned
