-- Wealth on the marts' last day by broker, currency, account type, account and asset class,
-- from each account's carried value that day (unconverted accounts are left out, as from
-- the net worth). Asset classes come from the positions of each account's latest snapshot
-- with positions (their converted market values); the part of the balance they do not
-- cover counts as cash; an account without positions (or whose positions are still valued
-- in a former base currency) counts whole by its type (`marts.categories.ACCOUNT_TYPE_ASSET_CLASS`).
{{ config(rebuild='user') }}
WITH valued AS (
    SELECT ad.user_id,
           ad.account_id,
           ad.currency,
           ad.base_currency,
           ad.balance_base_currency AS amount,
           a.name AS account_name,
           a.account_type,
           b.code AS broker_code,
           b.name AS broker_name,
           ps.id AS positions_snapshot_id
      FROM {{ scope }} sc
     CROSS JOIN {{ ref('mart_account_daily') }} ad
      JOIN {{ source('financial_accounts') }} a ON a.id = ad.account_id
      JOIN {{ source('brokers') }} b ON b.id = a.broker_id
      LEFT JOIN {{ source('account_snapshots') }} ps
        ON ps.account_id = ad.account_id
       AND ps.snapshot_date = ad.positions_snapshot_date
       AND ps.base_currency = ad.base_currency  -- never positions valued in a former base
     WHERE ad.user_id = sc.user_id
       AND ad.day = {{ end_day }}
       AND ad.balance_base_currency IS NOT NULL
),
positioned AS (
    SELECT v.account_id, p.asset_class, SUM(p.market_value_base_currency) AS amount
      FROM valued v
      JOIN {{ source('portfolio_positions') }} p ON p.snapshot_id = v.positions_snapshot_id
     WHERE p.market_value_base_currency IS NOT NULL
     GROUP BY v.account_id, p.asset_class
),
covered AS (
    SELECT account_id, SUM(amount) AS amount FROM positioned GROUP BY account_id
),
classed AS (
    SELECT v.user_id, v.base_currency, pos.asset_class, pos.amount
      FROM valued v
      JOIN positioned pos ON pos.account_id = v.account_id
    UNION ALL
    SELECT v.user_id, v.base_currency, 'cash', v.amount - c.amount
      FROM valued v
      JOIN covered c ON c.account_id = v.account_id
     WHERE v.amount <> c.amount
    UNION ALL
    SELECT v.user_id, v.base_currency, {{ account_asset_class('v.account_type') }}, v.amount
      FROM valued v
     WHERE NOT EXISTS (SELECT 1 FROM covered c WHERE c.account_id = v.account_id)
)
SELECT user_id, 'broker' AS dimension, broker_code AS category_key,
       MAX(broker_name) AS category, {{ end_day }} AS as_of, base_currency, SUM(amount) AS amount
  FROM valued
 GROUP BY user_id, broker_code, base_currency
UNION ALL
SELECT user_id, 'currency', currency, currency, {{ end_day }}, base_currency, SUM(amount)
  FROM valued
 GROUP BY user_id, currency, base_currency
UNION ALL
SELECT user_id, 'account_type', account_type, {{ label('account_type', 'account_type') }},
       {{ end_day }}, base_currency, SUM(amount)
  FROM valued
 GROUP BY user_id, account_type, base_currency
UNION ALL
SELECT user_id, 'account', CAST(account_id AS VARCHAR(20)), account_name, {{ end_day }},
       base_currency, amount
  FROM valued
UNION ALL
SELECT user_id, 'asset_class', asset_class, {{ label('asset_class', 'asset_class') }},
       {{ end_day }}, base_currency, SUM(amount)
  FROM classed
 GROUP BY user_id, asset_class, base_currency
