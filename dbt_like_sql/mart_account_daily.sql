-- Each account's value on every day from its first snapshot through the marts' last day:
-- the latest snapshot on or before the day, carried forward. The base-currency amount is
-- NULL while that snapshot is unconverted (or still converted into a former base currency).
{{ config(rebuild='day') }}
WITH RECURSIVE
accounts AS (
    SELECT a.user_id,
           a.id AS account_id,
           sc.from_day,
           (SELECT MIN(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = a.id) AS first_day
      FROM {{ source('financial_accounts') }} a
      JOIN {{ scope }} sc ON sc.user_id = a.user_id
),
starts AS (
    -- the first day to rebuild, and the snapshot carried into it from before
    SELECT ac.user_id,
           ac.account_id,
           {{ greatest('ac.first_day', 'ac.from_day') }} AS start_day,
           (SELECT MAX(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = ac.account_id
               AND s.snapshot_date < ac.from_day) AS carried_in
      FROM accounts ac
     WHERE ac.first_day IS NOT NULL
       AND ac.first_day <= {{ end_day }}
       AND ac.from_day <= {{ end_day }}
),
days (day) AS (
    SELECT MIN(start_day) FROM starts
    UNION ALL
    SELECT {{ next_day('day') }} FROM days WHERE day < {{ end_day }}
),
grid AS (
    SELECT st.user_id, st.account_id, st.carried_in, d.day
      FROM starts st
      JOIN days d ON d.day >= st.start_day
),
carried AS (
    SELECT g.user_id,
           g.account_id,
           g.day,
           COALESCE(
               MAX(s.snapshot_date) OVER (PARTITION BY g.account_id ORDER BY g.day),
               g.carried_in
           ) AS snapshot_date
      FROM grid g
      LEFT JOIN {{ source('account_snapshots') }} s
        ON s.account_id = g.account_id AND s.snapshot_date = g.day
)
SELECT c.user_id,
       c.day,
       c.account_id,
       s.snapshot_date,
       s.balance,
       s.currency,
       COALESCE(p.base_currency, {{ default_base_currency }}) AS base_currency,
       CASE
           WHEN s.base_currency = COALESCE(p.base_currency, {{ default_base_currency }})
           THEN s.balance_base_currency
       END AS balance_base_currency
  FROM carried c
  JOIN {{ source('account_snapshots') }} s
    ON s.account_id = c.account_id AND s.snapshot_date = c.snapshot_date
  LEFT JOIN {{ source('profiles') }} p ON p.user_id = c.user_id
