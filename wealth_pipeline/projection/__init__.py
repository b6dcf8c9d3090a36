"""The projection: a Monte Carlo model of net worth in today's money, goals with a
probability, and "when can I stop working?" (see the README's "Projection" section)."""
