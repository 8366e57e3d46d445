-- Supabase: when auth.users exists, profiles.id references it and row-level security keeps
-- each user to their own rows. On plain PostgreSQL (no auth schema) this does nothing.
-- The pipeline's own connection (service role or table owner) is not subject to these
-- policies; they protect the tables that Supabase exposes to end users through PostgREST.

DO $$
BEGIN
    IF to_regclass('auth.users') IS NULL THEN
        RAISE NOTICE 'no auth.users: skipping Supabase foreign keys and row-level security';
        RETURN;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'profiles_id_auth_fkey') THEN
        ALTER TABLE profiles ADD CONSTRAINT profiles_id_auth_fkey
            FOREIGN KEY (id) REFERENCES auth.users(id) ON DELETE CASCADE;
    END IF;

    ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS profiles_owner ON profiles;
    CREATE POLICY profiles_owner ON profiles
        USING (id = auth.uid()) WITH CHECK (id = auth.uid());

    ALTER TABLE chatbots ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS chatbots_owner ON chatbots;
    CREATE POLICY chatbots_owner ON chatbots
        USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());

    ALTER TABLE connections ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS connections_owner ON connections;
    CREATE POLICY connections_owner ON connections
        USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());

    ALTER TABLE workflows ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS workflows_owner ON workflows;
    CREATE POLICY workflows_owner ON workflows
        USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());
END
$$;

-- Tables owned through a chatbot: a row is visible when its chatbot belongs to the user.
DO $$
DECLARE
    t text;
BEGIN
    IF to_regclass('auth.users') IS NULL THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['messages', 'faqs', 'data_sources', 'chunks', 'ingestion_runs']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_owner', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I USING (EXISTS (SELECT 1 FROM chatbots c '
            'WHERE c.id = %I.chatbot_id AND c.user_id = auth.uid())) '
            'WITH CHECK (EXISTS (SELECT 1 FROM chatbots c '
            'WHERE c.id = %I.chatbot_id AND c.user_id = auth.uid()))',
            t || '_owner', t, t, t);
    END LOOP;
END
$$;
