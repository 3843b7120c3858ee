"""Double-entry ledger: accounts, balanced entries of postings, holds."""
