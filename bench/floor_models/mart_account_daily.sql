-- bench.returns' floor: `mart_account_daily` as the shipped model builds it, without the
-- returns' columns (NULL): what the marts build costs without returns. The carry-forward is
-- the shipped model's (SQLite: one recursive pass per account; PostgreSQL: windows), with
-- nothing else computed. Not shipped: `bench.returns` loads it in place of the model.
{{ config(rebuild='day', analyze='key', in_key_order=('sqlite',)) }}
{#- the returns' columns, all NULL -#}
{%- set no_returns %}
       CAST(NULL AS BOOLEAN) AS covered,
       CAST(NULL AS NUMERIC) AS value_start,
       CAST(NULL AS NUMERIC) AS external_flow,
       CAST(NULL AS NUMERIC) AS paired_transfers,
       CAST(NULL AS NUMERIC) AS income,
       CAST(NULL AS NUMERIC) AS costs,
       CAST(NULL AS NUMERIC) AS market_result,
       CAST(NULL AS NUMERIC) AS currency_effect,
       CAST(NULL AS NUMERIC) AS unexplained,
       CAST(NULL AS DOUBLE PRECISION) AS daily_return,
       CAST(NULL AS DOUBLE PRECISION) AS twr_index
{%- endset %}
WITH RECURSIVE
{%- if dialect == 'sqlite' %}
starts AS (
    SELECT sa.user_id,
           sa.account_id,
           sa.from_day,
           {{ greatest('ac.first_day', 'sa.from_day') }} AS start_day,
           (SELECT MAX(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = sa.account_id
               AND s.snapshot_date < sa.from_day) AS carried_in,
           kept.positions_snapshot_date AS positions_carried_in,
           COALESCE(p.base_currency, {{ default_base_currency }}) AS base_currency,
           ac.first_day
      FROM {{ scope_accounts }} sa
      JOIN (SELECT a.id,
                   (SELECT MIN(s.snapshot_date)
                      FROM {{ source('account_snapshots') }} s
                     WHERE s.account_id = a.id) AS first_day
              FROM {{ source('financial_accounts') }} a) ac ON ac.id = sa.account_id
      LEFT JOIN {{ source('profiles') }} p ON p.user_id = sa.user_id
      LEFT JOIN {{ this }} kept
        ON kept.user_id = sa.user_id AND kept.day = sa.kept_through
       AND kept.account_id = sa.account_id
     WHERE ac.first_day IS NOT NULL
       AND ac.first_day <= {{ end_day }}
       AND sa.from_day <= {{ end_day }}
),
chain (user_id, account_id, day, next, output, snapshot_date, positions_snapshot_date, balance,
       currency, value_end, rate, base_currency) AS (
    SELECT st.user_id,
           st.account_id,
           st.day,
           {{ next_day('st.day') }},
           0,
           c.snapshot_date,
           st.positions_carried_in,
           c.balance,
           c.currency,
           CASE WHEN c.base_currency = st.base_currency THEN c.balance_base_currency END,
           c.exchange_rate_used,
           st.base_currency
      FROM (SELECT starts.*, date(start_day, '-1 day') AS day FROM starts) st
      LEFT JOIN {{ source('account_snapshots') }} c
        ON c.account_id = st.account_id AND c.snapshot_date = st.carried_in
    UNION ALL
    SELECT ch.user_id,
           ch.account_id,
           ch.next,
           {{ next_day('ch.next') }},
           1,
           CASE WHEN s.id IS NULL THEN ch.snapshot_date ELSE ch.next END,
           CASE WHEN s.id IS NOT NULL
                 AND EXISTS (SELECT 1 FROM {{ source('portfolio_positions') }} pp
                              WHERE pp.snapshot_id = s.id)
                THEN ch.next ELSE ch.positions_snapshot_date END,
           CASE WHEN s.id IS NULL THEN ch.balance ELSE s.balance END,
           CASE WHEN s.id IS NULL THEN ch.currency ELSE s.currency END,
           CASE WHEN s.id IS NULL THEN ch.value_end
                WHEN s.base_currency = ch.base_currency THEN s.balance_base_currency END,
           CASE WHEN s.id IS NULL THEN ch.rate ELSE s.exchange_rate_used END,
           ch.base_currency
      FROM chain ch
      LEFT JOIN {{ source('account_snapshots') }} s
        ON s.account_id = ch.account_id AND s.snapshot_date = ch.next
     WHERE ch.day < {{ end_day }}
     ORDER BY 1, 3, 2
)
SELECT user_id,
       day,
       account_id,
       snapshot_date,
       balance,
       currency,
       base_currency,
       value_end AS balance_base_currency,
       positions_snapshot_date,
       rate AS exchange_rate_used,
{{ no_returns }}
  FROM chain
 WHERE output = 1
{%- else %}
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
       s.exchange_rate_used,
{{ no_returns }}
  FROM carried c
  JOIN {{ source('account_snapshots') }} s
    ON s.account_id = c.account_id AND s.snapshot_date = c.snapshot_date
  LEFT JOIN {{ source('profiles') }} p ON p.user_id = c.user_id
{%- endif %}
