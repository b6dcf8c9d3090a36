-- Positions of each account's latest snapshot that has positions (on or before the marts'
-- last day), merged across accounts by ISIN, else symbol, else name: summed quantity and
-- base-currency value (NULL if any merged position is unconverted, or still valued in a
-- former base currency), the asset class of the most recent position, the accounts holding
-- it, and the price: a single position's own; for several, value / quantity (set by the
-- build, exact to the price scale), or the most recent one's while the value is unknown.
{{ config(rebuild='user') }}
WITH latest AS (
    SELECT ad.user_id,
           ad.account_id,
           a.name AS account_name,
           ad.base_currency,
           s.id AS snapshot_id,
           s.base_currency AS valued_in
      FROM {{ scope }} sc
     CROSS JOIN {{ ref('mart_account_daily') }} ad
      JOIN {{ source('financial_accounts') }} a ON a.id = ad.account_id
      JOIN {{ source('account_snapshots') }} s
        ON s.account_id = ad.account_id AND s.snapshot_date = ad.positions_snapshot_date
     WHERE ad.user_id = sc.user_id
       AND ad.day = {{ end_day }}
),
positions AS (
    SELECT l.user_id,
           l.account_id,
           l.account_name,
           s.snapshot_date,
           p.id AS position_id,
           CASE
               WHEN p.isin IS NOT NULL AND p.isin <> '' THEN 'isin:' || p.isin
               WHEN p.symbol <> '' THEN 'symbol:' || p.symbol
               ELSE 'name:' || p.name
           END AS holding_key,
           NULLIF(p.isin, '') AS isin,
           p.symbol,
           p.name,
           p.asset_class,
           p.quantity,
           -- values still in a former base currency count as unconverted
           CASE WHEN l.valued_in = l.base_currency THEN p.market_value_base_currency END
               AS market_value_base_currency,
           CASE WHEN l.valued_in = l.base_currency THEN p.price_base_currency END
               AS price_base_currency
      FROM latest l
      JOIN {{ source('account_snapshots') }} s ON s.id = l.snapshot_id
      JOIN {{ source('portfolio_positions') }} p ON p.snapshot_id = l.snapshot_id
),
ranked AS (
    SELECT user_id, holding_key, asset_class, price_base_currency,
           ROW_NUMBER() OVER (
               PARTITION BY user_id, holding_key
               ORDER BY snapshot_date DESC,
                        CASE WHEN price_base_currency IS NULL THEN 1 ELSE 0 END,
                        position_id DESC
           ) AS recency
      FROM positions
),
merged AS (
    SELECT user_id,
           holding_key,
           MAX(isin) AS isin,
           MAX(symbol) AS symbol,
           MAX(name) AS name,
           SUM(quantity) AS quantity,
           COUNT(*) AS position_count,
           CASE
               WHEN COUNT(*) = COUNT(market_value_base_currency)
               THEN SUM(market_value_base_currency)
           END AS value_base_currency
      FROM positions
     GROUP BY user_id, holding_key
),
holders AS (
    SELECT DISTINCT user_id, holding_key, account_id, account_name
      FROM positions
),
holder_lists AS (
    SELECT user_id,
           holding_key,
           {{ json_agg(json_object("'account_id'", 'account_id', "'account_name'", 'account_name'), 'account_id') }} AS accounts
      FROM (SELECT * FROM holders ORDER BY user_id, holding_key, account_id) ordered_holders
     GROUP BY user_id, holding_key
)
SELECT m.user_id,
       m.holding_key,
       {{ end_day }} AS as_of,
       m.isin,
       m.symbol,
       m.name,
       r.asset_class,
       COALESCE(pr.base_currency, {{ default_base_currency }}) AS base_currency,
       m.quantity,
       m.value_base_currency,
       -- several positions merged: no one quote is the holding's price; the build sets
       -- value / quantity (SQL never divides money)
       CASE
           WHEN m.position_count = 1 OR m.value_base_currency IS NULL
           THEN r.price_base_currency
       END AS price_base_currency,
       h.accounts
  FROM merged m
  JOIN ranked r
    ON r.user_id = m.user_id AND r.holding_key = m.holding_key AND r.recency = 1
  JOIN holder_lists h ON h.user_id = m.user_id AND h.holding_key = m.holding_key
  LEFT JOIN {{ source('profiles') }} pr ON pr.user_id = m.user_id
