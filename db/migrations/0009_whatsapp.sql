-- WhatsApp (issue 30; docs/whatsapp.md). A connection with platform 'whatsapp' holds the
-- number's credentials (phone-number id, access token, app secret, verify token) sealed in
-- `credentials`; Meta calls /v1/whatsapp/{connection id}/webhook.

-- When Meta last verified the connection's webhook (the GET handshake with the right token).
ALTER TABLE connections ADD COLUMN IF NOT EXISTS verified_at timestamptz;

-- The durable inbox: one row per inbound WhatsApp message, written before the webhook
-- answers 200 and worked after it (intaj/whatsapp/worker.py). The WhatsApp message id is
-- unique, so a redelivered or concurrent duplicate is answered once. A worker claims a row
-- (state 'working', a fresh `claim` token and claimed_at, FOR UPDATE SKIP LOCKED) and renews
-- claimed_at while it works; a row whose claim is older than the lease was left by a dead
-- process and is taken again (a new token: the old holder's writes then change nothing).
-- The reply is stored with the conversation's two messages rows in one transaction, then
-- sent part by part (parts_sent, outbound_ids), so a restart never answers twice.
CREATE TABLE IF NOT EXISTS whatsapp_inbox (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    wa_message_id    text NOT NULL UNIQUE,
    connection_id    uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    chatbot_id       uuid NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    sender           text NOT NULL,
    kind             text NOT NULL,
    body             text,
    received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'working', 'sent', 'failed', 'limited')),
    attempts         integer NOT NULL DEFAULT 0,
    claim            uuid,
    claimed_at       timestamptz,
    conversation_id  uuid,
    reply            text,
    reply_message_id uuid REFERENCES messages(id) ON DELETE SET NULL,
    parts_sent       integer NOT NULL DEFAULT 0,
    outbound_ids     text[] NOT NULL DEFAULT '{}',
    error            text,
    finished_at      timestamptz
);
CREATE INDEX IF NOT EXISTS whatsapp_inbox_todo_idx
    ON whatsapp_inbox (received_at) WHERE state IN ('pending', 'working');
CREATE INDEX IF NOT EXISTS whatsapp_inbox_connection_idx
    ON whatsapp_inbox (connection_id, received_at DESC);

-- Delivery statuses Meta reports for the replies sent (sent, delivered, read, failed), once
-- each per outbound message.
CREATE TABLE IF NOT EXISTS whatsapp_statuses (
    wa_message_id text NOT NULL,
    status        text NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    chatbot_id    uuid NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    recipient     text,
    at            timestamptz,
    errors        jsonb NOT NULL DEFAULT '[]'::jsonb,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wa_message_id, status)
);

-- Supabase: the same row-level security as the other tables owned through a chatbot
-- (0002_supabase.sql), forced as in 0005_force_rls.sql.
DO $$
DECLARE
    t text;
BEGIN
    IF to_regclass('auth.users') IS NULL THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['whatsapp_inbox', 'whatsapp_statuses']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_owner', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I USING (EXISTS (SELECT 1 FROM chatbots c '
            'WHERE c.id = %I.chatbot_id AND c.user_id = auth.uid())) '
            'WITH CHECK (EXISTS (SELECT 1 FROM chatbots c '
            'WHERE c.id = %I.chatbot_id AND c.user_id = auth.uid()))',
            t || '_owner', t, t, t);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
                   AND (rolsuper OR rolbypassrls)) THEN
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        END IF;
    END LOOP;
END
$$;
