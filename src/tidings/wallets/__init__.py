"""Main wallets, purpose sub-wallets, budgets, savings goals, and transfers from request to
posting: held for a code, verified, cancelled or expired; wallets frozen and unfrozen."""
