-- Each account's value on every day from its first snapshot through the marts' last day:
-- the latest snapshot on or before the day, carried forward. The base-currency amount is
-- NULL while that snapshot is unconverted (or still converted into a former base currency).
-- It also carries the latest snapshot with positions (for breakdowns and holdings).
-- Rebuilt per account (`scope_accounts`): a change to one account rebuilds only its rows.
{{ config(rebuild='day') }}
WITH RECURSIVE
accounts AS (
    SELECT a.user_id,
           a.id AS account_id,
           sa.from_day,
           sa.kept_through,
           (SELECT MIN(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = a.id) AS first_day
      FROM {{ scope_accounts }} sa
      JOIN {{ source('financial_accounts') }} a ON a.id = sa.account_id
),
starts AS (
    -- the first day to rebuild, and what is carried into it from before: the latest
    -- snapshot (one index seek) and the latest with positions (the kept row of the day
    -- before, so no account's whole history is searched for positions)
    SELECT ac.user_id,
           ac.account_id,
           {{ greatest('ac.first_day', 'ac.from_day') }} AS start_day,
           (SELECT MAX(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = ac.account_id
               AND s.snapshot_date < ac.from_day) AS carried_in,
           (SELECT kept.positions_snapshot_date
              FROM {{ this }} kept
             WHERE kept.user_id = ac.user_id
               AND kept.day = ac.kept_through
               AND kept.account_id = ac.account_id) AS positions_carried_in
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
marked AS (
    -- every account and day to rebuild, with the snapshot taken that day, if any
    SELECT st.user_id,
           st.account_id,
           d.day,
           st.carried_in,
           st.positions_carried_in,
           s.snapshot_date AS taken,
           CASE
               WHEN EXISTS (SELECT 1 FROM {{ source('portfolio_positions') }} p
                             WHERE p.snapshot_id = s.id)
               THEN s.snapshot_date
           END AS taken_with_positions
      FROM starts st
      JOIN days d ON d.day >= st.start_day
      LEFT JOIN {{ source('account_snapshots') }} s
        ON s.account_id = st.account_id AND s.snapshot_date = d.day
),
carried AS (
    SELECT user_id,
           account_id,
           day,
           COALESCE(MAX(taken) OVER running, carried_in) AS snapshot_date,
           COALESCE(MAX(taken_with_positions) OVER running, positions_carried_in)
               AS positions_snapshot_date
      FROM marked
    WINDOW running AS (PARTITION BY account_id ORDER BY day)
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
       END AS balance_base_currency,
       c.positions_snapshot_date,
       s.exchange_rate_used
  FROM carried c
  JOIN {{ source('account_snapshots') }} s
    ON s.account_id = c.account_id AND s.snapshot_date = c.snapshot_date
  LEFT JOIN {{ source('profiles') }} p ON p.user_id = c.user_id
