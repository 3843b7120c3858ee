"""Event types the wallets domain writes to the outbox (the notification engine reads them).

Every event's data has `transfer_id` (but `balance.low` and `sub_wallet.closed`) and
`occurred_at`; amounts are Money.

- `wallet.top_up.succeeded`: amount, balance_after, wallet_id
- `wallet.payment.succeeded`: amount, merchant {name, category?}, balance_after, wallet_id
- `wallet.transfer.sent`: amount, counterparty (masked name), balance_after, wallet_id
- `wallet.transfer.received`: amount, counterparty (masked name), balance_after, wallet_id
- `wallet.allocation.succeeded`: amount, source_wallet_id, destination_wallet_id
- `wallet.refund.succeeded`: amount, merchant, refund_of, balance_after, wallet_id
- `wallet.withdrawal.succeeded`: amount, balance_after, wallet_id
- `wallet.balance.low`: balance, threshold, wallet_id
- `wallet.sub_wallet.closed`: wallet_id, name, moved
"""

from __future__ import annotations

TOP_UP_SUCCEEDED = "wallet.top_up.succeeded"
PAYMENT_SUCCEEDED = "wallet.payment.succeeded"
TRANSFER_SENT = "wallet.transfer.sent"
TRANSFER_RECEIVED = "wallet.transfer.received"
ALLOCATION_SUCCEEDED = "wallet.allocation.succeeded"
REFUND_SUCCEEDED = "wallet.refund.succeeded"
WITHDRAWAL_SUCCEEDED = "wallet.withdrawal.succeeded"
BALANCE_LOW = "wallet.balance.low"
SUB_WALLET_CLOSED = "wallet.sub_wallet.closed"
