"""Security and risk: account-takeover signals, transfer assessments, step-up codes, audit."""
