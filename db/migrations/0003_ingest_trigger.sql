-- The upload trigger and the run leases (flows/trigger.py, flows/sweep.py).
--
-- A data source that becomes 'pending' (inserted, or re-uploaded: its status set back to
-- 'pending' or its path changed while pending) sends NOTIFY intaj_data_source with its id.
-- NOTIFY is only a wake-up: listeners also sweep pending rows on start and on a timer, and
-- claim each row with a conditional UPDATE, so a lost or duplicated notification is harmless.

-- Claims: how often a source was dispatched (part of the Prefect idempotency key), when the
-- last claim was made, and the flow run it was handed to.
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS ingest_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS claimed_at timestamptz;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS flow_run_id uuid;

-- The stage a running ingestion is in (load, parse, chunk, embed, store), for progress.
ALTER TABLE ingestion_runs ADD COLUMN IF NOT EXISTS stage text;

CREATE INDEX IF NOT EXISTS data_sources_processing_idx ON data_sources (claimed_at)
    WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS ingestion_runs_running_idx ON ingestion_runs (heartbeat_at)
    WHERE status = 'running';

CREATE OR REPLACE FUNCTION intaj_notify_data_source() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'pending' AND (
        TG_OP = 'INSERT'
        OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.path IS DISTINCT FROM NEW.path
    ) THEN
        PERFORM pg_notify('intaj_data_source', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS data_sources_notify_insert ON data_sources;
CREATE TRIGGER data_sources_notify_insert AFTER INSERT ON data_sources
    FOR EACH ROW EXECUTE FUNCTION intaj_notify_data_source();

DROP TRIGGER IF EXISTS data_sources_notify_update ON data_sources;
CREATE TRIGGER data_sources_notify_update AFTER UPDATE OF status, path ON data_sources
    FOR EACH ROW EXECUTE FUNCTION intaj_notify_data_source();
