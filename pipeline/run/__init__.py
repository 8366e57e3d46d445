"""The life of a source's ingestion, without Prefect: ``job`` (prepare, embed, finish: the run
row, its lease and the source's status), ``line`` (the scheduler that overlaps neighbouring
sources), ``tracking`` (the run row's stage, timings and heartbeat), ``progress`` (reports to
a listener in this process), ``retry`` (the one retry policy), ``result`` (what happened to a
source). ``flows/ingest.py`` runs these as Prefect tasks and flows."""
