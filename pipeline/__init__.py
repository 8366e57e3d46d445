"""The ingestion stages: fetch (sources) -> parse -> chunk -> embed -> store. No Prefect here."""
