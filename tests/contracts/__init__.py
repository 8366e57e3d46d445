"""Contract suites: what every backend of an interface must do, written once. A backend's
test module subclasses the suite and provides its fixtures (like haystack's
``haystack/testing/document_store.py``); a new backend gets every test by doing the same."""
