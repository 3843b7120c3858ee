"""The notification engine: events become the right message, on the right channel, in time."""
