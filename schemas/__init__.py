"""Event contracts: what producers put on the input topics and how we decode it."""
