-- Each account's value on every day from its first snapshot through the marts' last day:
-- the latest snapshot on or before the day, carried forward. The base-currency amount is
-- NULL while that snapshot is unconverted (or still converted into a former base currency).
-- It also carries the latest snapshot with positions (for breakdowns and holdings), and where
-- the day's change in value came from, in the base currency: the value at the start (the day
-- before's end), the net external flow (deposits, withdrawals, transfers, other), income
-- (dividends, interest), costs (fees, taxes), the market result (change in value - net
-- external flow) and the currency effect on days whose flows are known (covered; otherwise
-- the whole change is unexplained), the day's return and the chain-linked index, continued
-- from the kept row of the day before (see marts.returns_daily for the conventions).
-- Rebuilt per account (`scope_accounts`): a change to one account rebuilds only its rows.
-- SQLite walks each account's days in one recursive pass that carries the day before's
-- values and index (windows cost more there per row and value); its queue hands the rows out
-- in key order, so the build does not sort them. PostgreSQL carries forward with windows, and
-- takes the day before's values with LAG and the index with `chain_product` over one sort.
{#- analyze: the models after it read it by its key only -#}
{{ config(rebuild='day', analyze='key', in_key_order=('sqlite',)) }}
{#- covered: flows known that day, values converted; the first day's change is the opening
    value, explained by flows only when they are known from before it (nothing was there).
    TRUE or FALSE, never NULL; a CASE, so the first failed test ends it (an AND as a value
    evaluates every operand on SQLite) -#}
{%- macro covered(day, value_end, known, prev_value, covered_from, covered_through) -%}
CASE WHEN {{ day }} >= {{ covered_from }} AND {{ day }} <= {{ covered_through }}
      AND {{ value_end }} IS NOT NULL
      AND ({{ known }} OR {{ covered_from }} < {{ day }})
      AND (NOT {{ known }} OR {{ prev_value }} IS NOT NULL)
      AND COALESCE(fl.unconverted, 0) = 0
     THEN TRUE ELSE FALSE END
{%- endmacro %}
{#- the day's return: its market result over the capital (the value at the start and the
    external flow), given as expressions or as columns computed once -#}
{%- macro return_of(is_covered, result, capital) -%}
CASE WHEN NOT {{ is_covered }} THEN NULL
     WHEN {{ capital }} > 0 THEN {{ ratio(result, capital) }}
     WHEN {{ capital }} = 0 AND {{ result }} = 0 THEN 0.0
END
{%- endmacro %}
{%- macro day_return(is_covered, value_end, value_start, flow) -%}
{{ return_of(is_covered,
             '(' ~ value_end ~ ' - ' ~ value_start ~ ' - COALESCE(' ~ flow ~ ', 0))',
             '(' ~ value_start ~ ' + COALESCE(' ~ flow ~ ', 0))') }}
{%- endmacro %}
{#- the currency effect of a covered day: 0 for an account in the base currency or when the
    rate did not move (the rates first: most days they are unchanged, and then the
    currencies' text, a copy each on SQLite, is never compared) -#}
{%- macro no_effect(currency, base_currency, rate_start, rate_end) -%}
{{ rate_start }} IS NULL OR {{ rate_end }} IS NULL OR {{ rate_start }} = {{ rate_end }}
OR {{ currency }} = {{ base_currency }}
{%- endmacro %}
{%- set base = 'COALESCE(p.base_currency, ' ~ default_base_currency ~ ')' %}
WITH RECURSIVE
flows AS (
    -- the day's flows per account (most days have none)
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
           SUM(CASE WHEN f.amount_base_currency IS NULL OR f.base_currency <> {{ base }}
                    THEN 1 ELSE 0 END) AS unconverted
      FROM {{ scope_accounts }} sa
      JOIN {{ source('cash_flows') }} f ON f.account_id = sa.account_id
      LEFT JOIN {{ source('profiles') }} p ON p.user_id = sa.user_id
     WHERE f.flow_date >= sa.from_day
       AND f.flow_date <= {{ end_day }}
     GROUP BY f.account_id, f.flow_date
),
accounts AS (
    -- the accounts to rebuild (a removed one is in scope but gone: no rows), the user's base
    -- currency and the days their flows are known
    SELECT a.user_id,
           a.id AS account_id,
           sa.from_day,
           sa.kept_through,
           (SELECT MIN(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = a.id) AS first_day,
           {{ base }} AS base_currency,
           cv.covered_from,
           cv.covered_through
      FROM {{ scope_accounts }} sa
      JOIN {{ source('financial_accounts') }} a ON a.id = sa.account_id
      LEFT JOIN {{ source('profiles') }} p ON p.user_id = a.user_id
      LEFT JOIN {{ source('cash_flow_coverage') }} cv ON cv.account_id = a.id
),
starts AS (
    -- the first day to rebuild, the latest snapshot before it (one index seek) and what the
    -- kept row of the day before carries in: the latest snapshot with positions (so no
    -- account's whole history is searched for positions) and the index
    SELECT ac.*,
           {{ greatest('ac.first_day', 'ac.from_day') }} AS start_day,
           (SELECT MAX(s.snapshot_date)
              FROM {{ source('account_snapshots') }} s
             WHERE s.account_id = ac.account_id
               AND s.snapshot_date < ac.from_day) AS carried_in,
           kept.day AS kept_day,
           kept.positions_snapshot_date AS positions_carried_in,
           kept.balance AS kept_balance,
           kept.balance_base_currency AS kept_value,
           kept.exchange_rate_used AS kept_rate,
           COALESCE(kept.twr_index, 1.0) AS index_carried_in
      FROM accounts ac
      LEFT JOIN {{ this }} kept
        ON kept.user_id = ac.user_id AND kept.day = ac.kept_through
       AND kept.account_id = ac.account_id
     WHERE ac.first_day IS NOT NULL
       AND ac.first_day <= {{ end_day }}
       AND ac.from_day <= {{ end_day }}
),
{%- if dialect == 'sqlite' %}
-- One row per account and day: the first is the day before the first rebuilt one (carrying
-- the snapshot before it, if any: `known`), each next one the day after, with that day's
-- snapshot if one was taken, else the day before's carried on. Each step works out the new
-- day's coverage, and chains the index on with the day before's return.
chain (user_id, account_id, day, next, output, known, snapshot_date, positions_snapshot_date,
       balance, currency, value_end, rate, base_currency, covered_from, covered_through,
       flow_day, index_before, value_start, value_start_own, rate_start, is_covered,
       external_flow) AS (
    SELECT st.user_id,
           st.account_id,
           st.day,
           {{ next_day('st.day') }},
           0,
           c.snapshot_date IS NOT NULL,
           c.snapshot_date,
           st.positions_carried_in,
           c.balance,
           c.currency,
           CASE WHEN c.base_currency = st.base_currency THEN c.balance_base_currency END,
           c.exchange_rate_used,
           st.base_currency,
           st.covered_from,
           st.covered_through,
           (SELECT MIN(f.flow_date) FROM {{ source('cash_flows') }} f
             WHERE f.account_id = st.account_id AND f.flow_date >= st.start_day),
           st.index_carried_in,
           NULL, NULL, NULL, 0, NULL
      FROM (SELECT starts.*, date(start_day, '-1 day') AS day FROM starts) st
      LEFT JOIN {{ source('account_snapshots') }} c
        ON c.account_id = st.account_id AND c.snapshot_date = st.carried_in
    UNION ALL
    SELECT ch.user_id,
           ch.account_id,
           ch.next,
           {{ next_day('ch.next') }},
           1,
           1,
           CASE WHEN s.id IS NULL THEN ch.snapshot_date ELSE ch.next END,
           CASE WHEN s.id IS NOT NULL
                 AND EXISTS (SELECT 1 FROM {{ source('portfolio_positions') }} pp
                              WHERE pp.snapshot_id = s.id)
                THEN ch.next ELSE ch.positions_snapshot_date END,
           CASE WHEN s.id IS NULL THEN ch.balance ELSE s.balance END,
           CASE WHEN s.id IS NULL THEN ch.currency ELSE s.currency END,
           {%- set value_end = '(CASE WHEN s.id IS NULL THEN ch.value_end '
                               'WHEN s.base_currency = ch.base_currency '
                               'THEN s.balance_base_currency END)' %}
           {{ value_end }},
           CASE WHEN s.id IS NULL THEN ch.rate ELSE s.exchange_rate_used END,
           ch.base_currency,
           ch.covered_from,
           ch.covered_through,
           CASE WHEN ch.next = ch.flow_day
                THEN (SELECT MIN(f.flow_date) FROM {{ source('cash_flows') }} f
                       WHERE f.account_id = ch.account_id AND f.flow_date > ch.next)
                ELSE ch.flow_day END,
           ch.index_before * COALESCE(1.0 + {{ day_return(
               'ch.is_covered', 'ch.value_end', 'ch.value_start', 'ch.external_flow') }}, 1.0),
           CASE WHEN ch.known THEN ch.value_end ELSE 0 END,
           CASE WHEN ch.known THEN ch.balance ELSE 0 END,
           ch.rate,
           {{ covered('ch.next', value_end, 'ch.known', 'ch.value_end',
                      'ch.covered_from', 'ch.covered_through') }},
           fl.external_flow
      FROM chain ch
      LEFT JOIN {{ source('account_snapshots') }} s
        ON s.account_id = ch.account_id AND s.snapshot_date = ch.next
      -- only on the days with flows (`flow_day`, the account's next): most have none, and
      -- their key is NULL, which SQLite answers without a search
      LEFT JOIN flows fl
        ON fl.account_id = ch.account_id
       AND fl.day = CASE WHEN ch.next = ch.flow_day THEN ch.next END
     WHERE ch.day < {{ end_day }}
     ORDER BY 1, 3, 2  -- the queue hands out (user, day, account) in key order
),
figures AS (
    SELECT f.*, f.index_before * COALESCE(1.0 + f.daily_return, 1.0) AS twr_index
      FROM (
        SELECT ch.*,
               ch.rate AS exchange_rate_used,
               fo.paired_transfers,
               fo.income,
               fo.costs,
               CASE WHEN ch.is_covered
                    THEN ch.value_end - ch.value_start - COALESCE(ch.external_flow, 0)
               END AS market_result,
               CASE WHEN NOT ch.is_covered THEN NULL
                    WHEN {{ no_effect('ch.currency', 'ch.base_currency', 'ch.rate_start',
                                      'ch.rate') }} THEN 0
                    ELSE {{ currency_effect('ch.value_start_own', 'ch.rate_start', 'ch.rate') }}
               END AS currency_effect,
               {{ day_return('ch.is_covered', 'ch.value_end', 'ch.value_start',
                             'ch.external_flow') }} AS daily_return
          FROM chain ch
          -- the day's other flows, read here rather than carried in every step's row: only
          -- on flow days (their external flow is never NULL, even when 0), by the NULL key
          LEFT JOIN flows fo
            ON fo.account_id = ch.account_id
           AND fo.day = CASE WHEN ch.external_flow IS NOT NULL THEN ch.day END
         WHERE ch.output = 1
      ) f
)
{%- else %}
days (day) AS (
    SELECT MIN(start_day) FROM starts
    UNION ALL
    SELECT {{ next_day('day') }} FROM days WHERE day < {{ end_day }}
),
marked AS (
    -- every account and day to rebuild, with the snapshot taken that day, if any, and what
    -- the account's rows share (so each later step keeps the rows in the windows' order)
    SELECT st.user_id,
           st.account_id,
           d.day,
           st.carried_in,
           st.positions_carried_in,
           st.base_currency,
           st.covered_from,
           st.covered_through,
           st.kept_day,
           st.kept_balance,
           st.kept_value,
           st.kept_rate,
           st.index_carried_in,
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
    -- what the later steps read (the windows copy every column of their rows)
    SELECT m.user_id,
           m.account_id,
           m.day,
           m.base_currency,
           m.covered_from,
           m.covered_through,
           m.kept_day,
           m.kept_balance,
           m.kept_value,
           m.kept_rate,
           m.index_carried_in,
           COALESCE(MAX(m.taken) OVER running, m.carried_in) AS snapshot_date,
           COALESCE(MAX(m.taken_with_positions) OVER running, m.positions_carried_in)
               AS positions_snapshot_date
      FROM marked m
    WINDOW running AS (PARTITION BY m.account_id ORDER BY m.day)
),
valued AS (
    SELECT c.*,
           s.balance,
           s.currency,
           CASE WHEN s.base_currency = c.base_currency THEN s.balance_base_currency END
               AS value_end,
           s.exchange_rate_used
      FROM carried c
      JOIN {{ source('account_snapshots') }} s
        ON s.account_id = c.account_id AND s.snapshot_date = c.snapshot_date
),
lagged AS (
    -- the day before's values: the row before's, or for the first rebuilt day the kept row's
    -- (the first row: ROW_NUMBER, which reads no other row)
    SELECT v.*,
           ROW_NUMBER() OVER running = 1 AS first_rebuilt,
           v.kept_day IS NOT NULL OR ROW_NUMBER() OVER running > 1 AS known,
           LAG(v.balance, 1, v.kept_balance) OVER running AS prev_balance,
           LAG(v.value_end, 1, v.kept_value) OVER running AS prev_value,
           LAG(v.exchange_rate_used, 1, v.kept_rate) OVER running AS rate_start
      FROM valued v
    WINDOW running AS (PARTITION BY v.account_id ORDER BY v.day)
),
returned AS (
    SELECT l.*,
           {{ covered('l.day', 'l.value_end', 'l.known', 'l.prev_value',
                      'l.covered_from', 'l.covered_through') }} AS is_covered,
           CASE WHEN l.known THEN l.prev_value ELSE 0 END AS value_start,
           CASE WHEN l.known THEN l.prev_balance ELSE 0 END AS value_start_own,
           fl.external_flow,
           fl.paired_transfers,
           fl.income,
           fl.costs
      FROM lagged l
      LEFT JOIN flows fl ON fl.account_id = l.account_id AND fl.day = l.day
),
measured AS (
    -- a fence (OFFSET 0): the capital, the market result and the currency effect's exact
    -- product, worked out once per row (where PostgreSQL would repeat each expression at each
    -- use above); the order, which the rows already have, tells the planner that the window
    -- above needs no sort
    SELECT rd.user_id,
           rd.day,
           rd.account_id,
           rd.snapshot_date,
           rd.balance,
           rd.currency,
           rd.base_currency,
           rd.value_end,
           rd.positions_snapshot_date,
           rd.exchange_rate_used,
           rd.first_rebuilt,
           rd.index_carried_in,
           rd.is_covered,
           rd.value_start,
           rd.value_start_own,
           rd.rate_start,
           rd.external_flow,
           rd.paired_transfers,
           rd.income,
           rd.costs,
           rd.value_start + COALESCE(rd.external_flow, 0) AS capital,
           rd.value_end - rd.value_start - COALESCE(rd.external_flow, 0) AS result,
           CASE WHEN NOT ({{ no_effect('rd.currency', 'rd.base_currency', 'rd.rate_start',
                                       'rd.exchange_rate_used') }})
                THEN rd.value_start_own * (rd.exchange_rate_used - rd.rate_start)
           END AS effect_exact  -- NULL: no effect
      FROM returned rd
     ORDER BY rd.account_id, rd.day
    OFFSET 0
),
figures AS (
    SELECT r.*,
           -- day by day from the kept index (1.0 at the start): the first factor is the kept
           -- index times the day's, so the product is the one chained from the first day on
           {{ chain_product }}(
               CASE WHEN r.first_rebuilt THEN r.index_carried_in ELSE 1.0 END
               * COALESCE(CAST(1 AS DOUBLE PRECISION) + r.daily_return, 1.0)
           ) OVER (PARTITION BY r.account_id ORDER BY r.day) AS twr_index
      FROM (
        -- a fence again: the return once per row, not in the running product and the output;
        -- only the columns read above it (the window copies every column)
        SELECT m.user_id,
               m.day,
               m.account_id,
               m.snapshot_date,
               m.balance,
               m.currency,
               m.base_currency,
               m.value_end,
               m.positions_snapshot_date,
               m.exchange_rate_used,
               m.first_rebuilt,
               m.index_carried_in,
               m.is_covered,
               m.value_start,
               m.external_flow,
               m.paired_transfers,
               m.income,
               m.costs,
               CASE WHEN m.is_covered THEN m.result END AS market_result,
               CASE WHEN NOT m.is_covered THEN NULL
                    WHEN m.effect_exact IS NULL THEN 0
                    ELSE {{ half_even('m.effect_exact') }}
               END AS currency_effect,
               {{ return_of('m.is_covered', 'm.result', 'm.capital') }} AS daily_return
          FROM measured m
         ORDER BY m.account_id, m.day
        OFFSET 0
      ) r
)
{%- endif %}
SELECT user_id,
       day,
       account_id,
       snapshot_date,
       balance,
       currency,
       base_currency,
       value_end AS balance_base_currency,
       positions_snapshot_date,
       exchange_rate_used,
       is_covered AS covered,
       value_start,
       CASE WHEN is_covered THEN COALESCE(external_flow, 0) END AS external_flow,
       CASE WHEN is_covered THEN COALESCE(paired_transfers, 0) END AS paired_transfers,
       CASE WHEN is_covered THEN COALESCE(income, 0) END AS income,
       CASE WHEN is_covered THEN COALESCE(costs, 0) END AS costs,
       market_result,
       currency_effect,
       CASE WHEN NOT is_covered THEN value_end - value_start END AS unexplained,
       daily_return,
       twr_index
  FROM figures
