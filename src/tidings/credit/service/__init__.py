"""Credit-line operations, one module per family: products, applications, lines (and their
limits), drawdowns (and quotes), repayments and statements; `notices` records their events.
Callers import the module they need (`from tidings.credit.service import drawdowns`).

Every function runs in the caller's transaction and never commits. Money moves through the
ledger: a drawdown is one balanced entry from the credit receivable account into the
borrower's wallet; a repayment one entry from the wallet back to the receivable (principal)
and to interest income (interest and penalty). Interest and penalties are owed on the credit
tables and reach the ledger when paid. The wallet is reached through `tidings.wallets.accounts`.
"""
