"""Small real servers on 127.0.0.1 for the storage and URL-fetch tests."""
