-- Net worth per user and day in the base currency: the sum of the accounts' converted
-- values; accounts whose carried snapshot is unconverted are counted apart, not summed. The
-- returns total has summed the same account-days already (`value_end`): read there, not again.
{{ config(rebuild='day') }}
SELECT t.user_id,
       t.day,
       t.base_currency,
       t.value_end AS total_wealth,
       t.account_count,
       t.unconverted_count
  FROM {{ scope }} sc
 CROSS JOIN {{ ref('mart_returns_daily') }} t
 WHERE t.user_id = sc.user_id
   AND t.day >= sc.from_day
