-- A command whose flow ran in the home's flow service (flows/service.py) reads its sources'
-- results, and its progress, by the flow run's id.
CREATE INDEX IF NOT EXISTS ingestion_runs_flow_run_idx ON ingestion_runs (flow_run_id);
