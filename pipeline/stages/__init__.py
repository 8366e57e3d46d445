"""The stages of ingesting one data source, in the order a run visits them, one module each,
as plain functions (``pipeline/run/job.py`` calls them for one source, ``flows/ingest.py`` as
Prefect tasks); none of them moves the source's status (``pipeline/status.py``, by the run).

    loading.load     -> the source row and its bytes (fetched from storage or the web); says
                        whether the content is unchanged since its last ingestion
    parsing.parse    -> sections (in a sandboxed child process)
    chunking.chunk   -> token-sized chunks
    embedding.embed  -> vectors, reusing every (model, content hash) the chatbot already has
    storing.store    -> one transaction swaps the source's chunks (readers see old or new)
"""
