"""Wallet users: identity, encrypted personal data, access tokens."""
