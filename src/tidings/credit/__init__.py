"""The consumer credit line: applications, drawdowns, schedules, repayments, overdue."""
