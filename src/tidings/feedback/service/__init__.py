"""Follow-up operations: tickets, surveys, the knowledge base, analysis, published changes.
Services never commit: the request or the job that called them owns the transaction."""
