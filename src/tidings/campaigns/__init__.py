"""Marketing campaigns: segments, schedules, fan-out, unsubscribe, click tracking."""
