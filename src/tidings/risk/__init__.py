"""Security and risk: account-takeover signals, step-up verification, freezes."""
