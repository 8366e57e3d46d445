-- Supabase: FORCE row-level security on every table with a policy, so even the tables'
-- owner is held to the policies (a view or a SECURITY DEFINER function owned by it can then
-- not read past them: splinter 0010/0028, test plan T3). Roles with BYPASSRLS (Supabase's
-- postgres and service_role) and superusers still see every row, which the pipeline needs.
-- Applied only when the role migrating bypasses RLS: a plain owner that does not would lock
-- the pipeline out of its own tables; it is told so instead.

DO $$
DECLARE
    t text;
BEGIN
    IF to_regclass('auth.users') IS NULL THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
                   AND (rolsuper OR rolbypassrls)) THEN
        RAISE NOTICE 'role % does not bypass row-level security: not forcing it (the pipeline'
            ' would no longer see its own rows); connect as a BYPASSRLS role to force it',
            current_user;
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['profiles', 'chatbots', 'connections', 'workflows', 'messages',
                             'faqs', 'data_sources', 'chunks', 'ingestion_runs']
    LOOP
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
