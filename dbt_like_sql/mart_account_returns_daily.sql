-- Per account and day, where the change in value came from, in the base currency: value at
-- the start (the day before's end) and end, the net external flow (deposits, withdrawals,
-- transfers, other), income (dividends, interest), costs (fees, taxes) and the market result
-- (change in value - net external flow) on days whose flows are known (covered); otherwise
-- the whole change is unexplained. Also the currency effect (exact: `currency_effect`), the
-- day's return (`ratio`, a double) and the chain-linked index, continued from the kept row of
-- the day before (see marts.returns_daily for the conventions).
-- On SQLite one recursive pass per account walks its days in order, carrying the day
-- before's values and the index (a window or a join per carried value costs more there); on
-- PostgreSQL windows do it: LAG and `chain_product`, a running product in day order.
-- Rebuilt per account (`scope_accounts`), as `mart_account_daily`: each row depends on its own
-- account's values, flows and coverage only, so a change to one account rebuilds its rows.
{{ config(rebuild='day', analyze='key') }}  {#- the total reads it by its key only #}
{#- covered: flows known that day, values converted; the first day's change is the opening
    value, explained by flows only when they are known from before it (nothing was there) -#}
{%- macro covered(day, value_end, known, prev_value) -%}
(cv.account_id IS NOT NULL
     AND {{ day }} >= cv.covered_from AND {{ day }} <= cv.covered_through
     AND {{ value_end }} IS NOT NULL
     AND ({{ known }} OR cv.covered_from < {{ day }})
     AND (NOT {{ known }} OR {{ prev_value }} IS NOT NULL)
     AND COALESCE(fl.unconverted, 0) = 0)
{%- endmacro %}
{%- macro day_return(is_covered, value_end, value_start) -%}
{%- set capital = '(' ~ value_start ~ ' + COALESCE(fl.external_flow, 0))' -%}
{%- set result = '(' ~ value_end ~ ' - ' ~ value_start ~ ' - COALESCE(fl.external_flow, 0))' -%}
CASE WHEN NOT {{ is_covered }} THEN NULL
     WHEN {{ capital }} > 0 THEN {{ ratio(result, capital) }}
     WHEN {{ capital }} = 0 AND {{ result }} = 0 THEN 0.0
END
{%- endmacro %}
WITH RECURSIVE
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
      FROM {{ scope_accounts }} sa
      JOIN {{ source('cash_flows') }} f ON f.account_id = sa.account_id
      LEFT JOIN {{ source('profiles') }} p ON p.user_id = sa.user_id
     WHERE f.flow_date >= sa.from_day
       AND f.flow_date <= {{ end_day }}
     GROUP BY f.account_id, f.flow_date
),
{%- if dialect == 'sqlite' %}
starts AS (
    SELECT sa.user_id,
           sa.account_id,
           sa.from_day,
           sa.kept_through,
           (SELECT MIN(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = sa.account_id) AS first_day
      FROM {{ scope_accounts }} sa
),
-- One row per account and day: the first is the kept day before the rebuilt ones (`known`),
-- or the day before the account's first (nothing known); each next one is the day after.
chain (user_id, account_id, day, known, balance, value_end, rate, twr_index, output,
       base_currency, currency, value_start, value_start_own, rate_start, is_covered,
       external_flow, paired_transfers, income, costs, daily_return) AS (
    SELECT st.user_id,
           st.account_id,
           COALESCE(k.day, date({{ greatest('st.first_day', 'st.from_day') }}, '-1 day')),
           k.day IS NOT NULL,
           k.balance,
           k.balance_base_currency,
           k.exchange_rate_used,
           COALESCE((SELECT kept.twr_index
                       FROM {{ this }} kept
                      WHERE kept.user_id = k.user_id
                        AND kept.day = k.day
                        AND kept.account_id = k.account_id), 1.0),
           0,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      FROM starts st
      LEFT JOIN {{ ref('mart_account_daily') }} k
        ON k.user_id = st.user_id AND k.day = st.kept_through AND k.account_id = st.account_id
     WHERE st.first_day IS NOT NULL
    UNION ALL
    SELECT ad.user_id,
           ad.account_id,
           ad.day,
           1,
           ad.balance,
           ad.balance_base_currency,
           ad.exchange_rate_used,
           ch.twr_index * COALESCE(1.0 + {{ day_return(
               covered('ad.day', 'ad.balance_base_currency', 'ch.known', 'ch.value_end'),
               'ad.balance_base_currency',
               'CASE WHEN ch.known THEN ch.value_end ELSE 0 END') }}, 1.0),
           1,
           ad.base_currency,
           ad.currency,
           CASE WHEN ch.known THEN ch.value_end ELSE 0 END,
           CASE WHEN ch.known THEN ch.balance ELSE 0 END,
           ch.rate,
           {{ covered('ad.day', 'ad.balance_base_currency', 'ch.known', 'ch.value_end') }},
           fl.external_flow,
           fl.paired_transfers,
           fl.income,
           fl.costs,
           {{ day_return(
               covered('ad.day', 'ad.balance_base_currency', 'ch.known', 'ch.value_end'),
               'ad.balance_base_currency',
               'CASE WHEN ch.known THEN ch.value_end ELSE 0 END') }}
      FROM chain ch
      JOIN {{ ref('mart_account_daily') }} ad
        ON ad.user_id = ch.user_id AND ad.day = {{ next_day('ch.day') }}
       AND ad.account_id = ch.account_id
      LEFT JOIN {{ source('cash_flow_coverage') }} cv ON cv.account_id = ad.account_id
      LEFT JOIN flows fl ON fl.account_id = ad.account_id AND fl.day = ad.day
),
figures AS (
    SELECT user_id, day, account_id, base_currency, currency, is_covered, value_start,
           value_end, value_start_own, rate_start, rate AS rate_end, external_flow,
           paired_transfers, income, costs, daily_return, twr_index
      FROM chain
     WHERE output = 1
)
{%- else %}
daily AS (
    -- the rebuilt days and the kept day before them (whose values and index start the first)
    SELECT ad.user_id,
           ad.day,
           ad.account_id,
           ad.base_currency,
           ad.currency,
           ad.balance,
           ad.balance_base_currency,
           ad.exchange_rate_used AS rate,
           sa.from_day,
           CASE WHEN ad.day < sa.from_day
                THEN COALESCE((SELECT kept.twr_index
                                 FROM {{ this }} kept
                                WHERE kept.user_id = ad.user_id
                                  AND kept.day = ad.day
                                  AND kept.account_id = ad.account_id), 1.0)
           END AS seed
      FROM {{ scope_accounts }} sa
      JOIN {{ ref('mart_account_daily') }} ad
        ON ad.user_id = sa.user_id AND ad.account_id = sa.account_id
     WHERE ad.day >= sa.kept_through
       AND ad.day >= {{ earliest_kept_day }}  -- known when planning
),
lagged AS (
    SELECT d.*,
           LAG(d.day) OVER running IS NOT NULL AS known,
           LAG(d.balance) OVER running AS prev_balance,
           LAG(d.balance_base_currency) OVER running AS prev_value,
           LAG(d.rate) OVER running AS rate_start
      FROM daily d
    WINDOW running AS (PARTITION BY d.account_id ORDER BY d.day)
),
returned AS (
    SELECT l.*,
           {{ covered('l.day', 'l.balance_base_currency', 'l.known', 'l.prev_value') }} AS is_covered,
           fl.external_flow,
           fl.paired_transfers,
           fl.income,
           fl.costs,
           {{ day_return(
               covered('l.day', 'l.balance_base_currency', 'l.known', 'l.prev_value'),
               'l.balance_base_currency',
               'CASE WHEN l.known THEN l.prev_value ELSE 0 END') }} AS daily_return
      FROM lagged l
      LEFT JOIN {{ source('cash_flow_coverage') }} cv ON cv.account_id = l.account_id
      LEFT JOIN flows fl ON fl.account_id = l.account_id AND fl.day = l.day
),
figures AS (
    SELECT user_id, day, account_id, base_currency, currency, is_covered,
           CASE WHEN known THEN prev_value ELSE 0 END AS value_start,
           balance_base_currency AS value_end,
           CASE WHEN known THEN prev_balance ELSE 0 END AS value_start_own,
           rate_start,
           rate AS rate_end,
           external_flow, paired_transfers, income, costs, daily_return, twr_index
      FROM (
        SELECT r.*,
               {{ chain_product }}(
                   COALESCE(r.seed, CAST(1 AS DOUBLE PRECISION) + r.daily_return, 1)
               ) OVER (PARTITION BY r.account_id ORDER BY r.day) AS twr_index
          FROM returned r
      ) indexed
     WHERE day >= from_day
)
{%- endif %}
SELECT user_id,
       day,
       account_id,
       base_currency,
       currency,
       CASE WHEN is_covered THEN TRUE ELSE FALSE END AS covered,
       value_start,
       value_end,
       value_start_own,
       rate_start,
       rate_end,
       CASE WHEN is_covered THEN COALESCE(external_flow, 0) END AS external_flow,
       CASE WHEN is_covered THEN COALESCE(paired_transfers, 0) END AS paired_transfers,
       CASE WHEN is_covered THEN COALESCE(income, 0) END AS income,
       CASE WHEN is_covered THEN COALESCE(costs, 0) END AS costs,
       CASE WHEN is_covered
            THEN value_end - value_start - COALESCE(external_flow, 0) END AS market_result,
       CASE WHEN NOT is_covered THEN NULL
            WHEN currency = base_currency OR rate_start IS NULL OR rate_end IS NULL
              OR rate_start = rate_end THEN 0
            ELSE {{ currency_effect('value_start_own', 'rate_start', 'rate_end') }}
       END AS currency_effect,
       CASE WHEN NOT is_covered THEN value_end - value_start END AS unexplained,
       daily_return,
       twr_index
  FROM figures
