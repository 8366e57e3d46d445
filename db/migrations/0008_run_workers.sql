-- Faults (issue 25). Each ingestion run names the process that runs it (`host:pid:start`,
-- pipeline/run/worker.py), so that a command starting on the same host closes at once the
-- runs of a process that was killed, instead of waiting for their lease (flows/sweep.py).
ALTER TABLE ingestion_runs ADD COLUMN IF NOT EXISTS worker text;
CREATE INDEX IF NOT EXISTS ingestion_runs_running_idx ON ingestion_runs (worker)
    WHERE status = 'running';
