"""Event kinds an operator registers over the API, so a core's new event type becomes a
notice without a release."""
