-- Net worth per user and month (keyed by its first day): the last day's value, the lowest,
-- the highest, and the sum and number of days, so readers compute the average exactly.
{{ config(rebuild='month') }}
WITH days AS (
    SELECT n.user_id,
           {{ month_start('n.day') }} AS month,
           n.day,
           n.base_currency,
           n.total_wealth
      FROM {{ scope }} sc
     CROSS JOIN {{ ref('mart_net_worth_daily') }} n
     WHERE n.user_id = sc.user_id
       AND n.day >= sc.from_month
),
months AS (
    SELECT user_id,
           month,
           MAX(day) AS last_day,
           MIN(total_wealth) AS min_value,
           MAX(total_wealth) AS max_value,
           SUM(total_wealth) AS sum_value,
           COUNT(*) AS day_count
      FROM days
     GROUP BY user_id, month
)
SELECT m.user_id,
       m.month,
       d.base_currency,
       m.last_day,
       d.total_wealth AS last_value,
       m.min_value,
       m.max_value,
       m.sum_value,
       m.day_count
  FROM months m
  JOIN days d ON d.user_id = m.user_id AND d.day = m.last_day
