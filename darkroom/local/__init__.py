"""The local platform: what runs on one machine with embedded defaults."""
