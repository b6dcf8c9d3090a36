-- Net worth per user and day in the base currency: the sum of the accounts' converted
-- values; accounts whose carried snapshot is unconverted are counted apart, not summed.
{{ config(rebuild='day') }}
SELECT ad.user_id,
       ad.day,
       ad.base_currency,
       COALESCE(SUM(ad.balance_base_currency), 0) AS total_wealth,
       COUNT(*) AS account_count,
       SUM(CASE WHEN ad.balance_base_currency IS NULL THEN 1 ELSE 0 END) AS unconverted_count
  FROM {{ scope }} sc
 CROSS JOIN {{ ref('mart_account_daily') }} ad
 WHERE ad.user_id = sc.user_id
   AND ad.day >= sc.from_day
 GROUP BY ad.user_id, ad.day, ad.base_currency
