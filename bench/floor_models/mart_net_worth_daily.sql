-- bench.returns' floor: `mart_net_worth_daily` without the returns total to read from, so it
-- sums the account-days itself (as the shipped model did before it read the total), grouped
-- in the order it reads them (no sort on SQLite). Not shipped: `bench.returns` loads it in
-- place of the model.
{{ config(rebuild='day') }}
SELECT sc.user_id,
       ad.day,
       MIN(ad.base_currency) AS base_currency,  -- the user's: one per day
       COALESCE(SUM(ad.balance_base_currency), 0) AS total_wealth,
       COUNT(*) AS account_count,
       COUNT(*) - COUNT(ad.balance_base_currency) AS unconverted_count
  FROM {{ scope }} sc
 CROSS JOIN {{ ref('mart_account_daily') }} ad
 WHERE ad.user_id = sc.user_id
   AND ad.day >= sc.from_day
   AND ad.day > {{ earliest_kept_day }}  -- known when planning (as the returns total has it)
 GROUP BY sc.user_id, ad.day
