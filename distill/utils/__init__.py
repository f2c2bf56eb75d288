"""Small shared helpers: atomic writes, hashing, cache locations."""
