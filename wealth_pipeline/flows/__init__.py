"""Cash flows: money into and out of accounts (from the services, by hand, from bank files),
converted into the owner's base currency, own transfers paired, and the days each account's
flows are known complete (coverage)."""
