"""Main wallets, purpose sub-wallets, budgets, savings goals and transfers."""
