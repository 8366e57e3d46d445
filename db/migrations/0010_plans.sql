-- Plans (issue 27; pipeline/plans.py, docs/plans.md). The limits themselves are settings
-- (core/settings_plans.py); the database keeps the one count that would be slow to take from
-- the rows each time: the messages an owner sent this month. A message is counted by one
-- conditional upsert that refuses to pass the plan's number (db/plans.py: reserve_message),
-- so concurrent messages at the edge never exceed it.
CREATE TABLE IF NOT EXISTS message_usage (
    user_id  uuid NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    month    date NOT NULL,
    messages integer NOT NULL DEFAULT 0 CHECK (messages >= 0),
    PRIMARY KEY (user_id, month)
);

-- Sources refused by a plan (error_code 'plan_limit') do not count against it; the others of
-- a chatbot are counted at each registration and claim.
CREATE INDEX IF NOT EXISTS data_sources_chatbot_created_idx
    ON data_sources (chatbot_id, created_at, id);
CREATE INDEX IF NOT EXISTS connections_user_platform_idx ON connections (user_id, platform);

-- Supabase: an owner reads their own usage (0002_supabase.sql's rule for owned rows).
DO $$
BEGIN
    IF to_regclass('auth.users') IS NULL THEN
        RETURN;
    END IF;
    ALTER TABLE message_usage ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS message_usage_owner ON message_usage;
    CREATE POLICY message_usage_owner ON message_usage
        USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
               AND (rolsuper OR rolbypassrls)) THEN
        ALTER TABLE message_usage FORCE ROW LEVEL SECURITY;
    END IF;
END
$$;

-- Why a data source is over its owner's plan (jsonb: limit, usage, allowed, plan, message), or
-- NULL when it is within it: the claim of the upload trigger (db/dispatch.py) takes only
-- sources within it and fails the others with error_code 'plan_limit' (a source the SaaS
-- inserted itself never passed a registration's check). A chatbot's sources count in the
-- order they were made, so its first N are within a limit of N whatever order they are
-- claimed in. ``plans`` is INTAJ_PLANS as JSON; the local profile (``local_email``) has
-- ``local_plan`` (NULL: no limit).
CREATE OR REPLACE FUNCTION intaj_over_plan(
    source data_sources, plans jsonb, local_email text, local_plan text
) RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH owner AS (
        SELECT CASE WHEN p.email = local_email THEN local_plan ELSE p.subscription END AS plan
        FROM chatbots c JOIN profiles p ON p.id = c.user_id WHERE c.id = source.chatbot_id
    ), lim AS (
        SELECT plan, (plans -> plan ->> 'sources_per_chatbot')::bigint AS sources,
               (plans -> plan ->> 'bytes_per_chatbot')::bigint AS bytes,
               (plans -> plan ->> 'file_bytes')::bigint AS file_bytes
        FROM owner
    ), older AS (
        SELECT count(*) AS n, coalesce(sum(o.size_bytes), 0) AS bytes FROM data_sources o
        WHERE o.chatbot_id = source.chatbot_id
          AND (o.created_at, o.id) < (source.created_at, source.id)
          AND o.error_code IS DISTINCT FROM 'plan_limit'
    ), over AS (
        SELECT CASE
            WHEN lim.sources IS NOT NULL AND older.n >= lim.sources
                THEN ARRAY['sources_per_chatbot', older.n::text, lim.sources::text,
                           'data sources per chatbot', 'delete sources']
            WHEN lim.file_bytes IS NOT NULL AND source.size_bytes > lim.file_bytes
                THEN ARRAY['file_bytes', source.size_bytes::text, lim.file_bytes::text,
                           'bytes in one file', 'upload a smaller file']
            WHEN lim.bytes IS NOT NULL AND older.bytes + coalesce(source.size_bytes, 0) > lim.bytes
                THEN ARRAY['bytes_per_chatbot', older.bytes::text, lim.bytes::text,
                           'stored bytes per chatbot', 'delete sources']
        END AS o, lim.plan
        FROM lim, older
    )
    SELECT jsonb_build_object(
        'limit', o[1], 'usage', o[2]::bigint, 'allowed', o[3]::bigint, 'plan', plan,
        'message', format('over the %s plan''s limit of %s %s (in use: %s): upgrade the plan'
                          ' or %s, then run intaj retry-failed', plan, o[3], o[4], o[2], o[5]))
    FROM over WHERE o IS NOT NULL
$$;

-- Fair ingestion (docs/orchestration.md): a source that finishes (processing -> ready or
-- failed) also sends NOTIFY intaj_data_source, with 'done:<id>', so the upload trigger claims
-- the next source in fair order as soon as a slot is free instead of at its next sweep.
CREATE OR REPLACE FUNCTION intaj_notify_data_source() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'pending' AND (
        TG_OP = 'INSERT'
        OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.path IS DISTINCT FROM NEW.path
    ) THEN
        PERFORM pg_notify('intaj_data_source', NEW.id::text);
    ELSIF TG_OP = 'UPDATE' AND OLD.status = 'processing'
          AND NEW.status IN ('ready', 'failed') THEN
        PERFORM pg_notify('intaj_data_source', 'done:' || NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE INDEX IF NOT EXISTS data_sources_claimable_idx ON data_sources (chatbot_id, created_at)
    WHERE status IN ('pending', 'processing');
-- Each owner's last claim (the round robin serves the owner served longest ago first).
CREATE INDEX IF NOT EXISTS data_sources_claimed_idx ON data_sources (claimed_at);
