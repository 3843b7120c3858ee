"""Personal data protection: field encryption, look-up hashes and masking."""
