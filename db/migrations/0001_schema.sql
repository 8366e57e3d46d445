-- The SaaS contract (shared/seed/DB_DESCRIPTION.md) plus what the pipeline needs.
-- Tables are created only when missing, so this also applies on a Supabase database that
-- already holds the seed tables; the pipeline's columns are added with ADD COLUMN IF NOT EXISTS.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS profiles (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text,
    email        text UNIQUE,
    subscription text NOT NULL DEFAULT 'free'
                 CHECK (subscription IN ('free', 'pro', 'business')),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS chatbots (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    name       text NOT NULL,
    model      text,
    settings   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS messages (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chatbot_id uuid NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS faqs (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chatbot_id uuid NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    question   text NOT NULL,
    answer     text NOT NULL
);

CREATE TABLE IF NOT EXISTS data_sources (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chatbot_id uuid NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    type       text NOT NULL,
    path       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS connections (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    chatbot_id  uuid REFERENCES chatbots(id) ON DELETE CASCADE,
    platform    text NOT NULL,
    credentials jsonb NOT NULL DEFAULT '{}'::jsonb,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS workflows (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    chatbot_id uuid REFERENCES chatbots(id) ON DELETE CASCADE,
    name       text NOT NULL,
    definition jsonb NOT NULL DEFAULT '{}'::jsonb,
    active     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- What the pipeline adds to the contract ---------------------------------------------------

-- The embedding model a chatbot searches with (NULL: the deployment's default model), and
-- the text-search configuration for its language.
ALTER TABLE chatbots ADD COLUMN IF NOT EXISTS embedding_model text;
ALTER TABLE chatbots ADD COLUMN IF NOT EXISTS language regconfig NOT NULL DEFAULT 'simple';
CREATE UNIQUE INDEX IF NOT EXISTS chatbots_user_name_key ON chatbots (user_id, name);

-- Ingestion state.
ALTER TABLE data_sources DROP CONSTRAINT IF EXISTS data_sources_type_check;
ALTER TABLE data_sources ADD CONSTRAINT data_sources_type_check
    CHECK (type IN ('pdf', 'docx', 'url', 'html', 'txt', 'md', 'file'));
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS name text;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS origin text;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'pending';
ALTER TABLE data_sources DROP CONSTRAINT IF EXISTS data_sources_status_check;
ALTER TABLE data_sources ADD CONSTRAINT data_sources_status_check
    CHECK (status IN ('pending', 'processing', 'ready', 'failed'));
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS error text;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS error_code text;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS content_hash text;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS size_bytes bigint;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS chunk_count integer NOT NULL DEFAULT 0;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS embedding_model text;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS last_ingested_at timestamptz;
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS data_sources_chatbot_idx ON data_sources (chatbot_id);
CREATE INDEX IF NOT EXISTS data_sources_pending_idx ON data_sources (created_at)
    WHERE status = 'pending';

-- Conversations and answer metadata (citations, confidence).
ALTER TABLE messages ADD COLUMN IF NOT EXISTS conversation_id uuid;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX IF NOT EXISTS messages_conversation_idx
    ON messages (chatbot_id, conversation_id, created_at);

ALTER TABLE faqs ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE faqs ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS faqs_chatbot_idx ON faqs (chatbot_id);

-- Chunks: document chunks and FAQ entries of every chatbot, with their vectors. The vector
-- column has no fixed dimension, so several models' vectors coexist; each model gets its own
-- partial HNSW index over a cast to its dimension (see db/chunks.py: ensure_model_index).
CREATE TABLE IF NOT EXISTS chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chatbot_id      uuid NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    source_id       uuid REFERENCES data_sources(id) ON DELETE CASCADE,
    faq_id          uuid REFERENCES faqs(id) ON DELETE CASCADE,
    ordinal         integer NOT NULL,
    content         text NOT NULL,
    content_hash    text NOT NULL,
    tokens          integer NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    embedding_model text NOT NULL,
    embedding       vector NOT NULL,
    language        regconfig NOT NULL DEFAULT 'simple',
    tsv             tsvector GENERATED ALWAYS AS (to_tsvector(language, content)) STORED,
    run_id          uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chunks_one_owner CHECK ((source_id IS NULL) <> (faq_id IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_source_ordinal_key
    ON chunks (source_id, embedding_model, ordinal) WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS chunks_faq_key
    ON chunks (faq_id, embedding_model) WHERE faq_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS chunks_chatbot_idx ON chunks (chatbot_id, embedding_model);
CREATE INDEX IF NOT EXISTS chunks_hash_idx ON chunks (chatbot_id, embedding_model, content_hash);
CREATE INDEX IF NOT EXISTS chunks_tsv_idx ON chunks USING gin (tsv);

-- The HNSW index of each model, created on first use.
CREATE TABLE IF NOT EXISTS embedding_models (
    name       text PRIMARY KEY,
    dimensions integer NOT NULL CHECK (dimensions > 0),
    index_name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per ingestion run, so the SaaS can show progress without asking Prefect.
CREATE TABLE IF NOT EXISTS ingestion_runs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source_id    uuid REFERENCES data_sources(id) ON DELETE CASCADE,
    chatbot_id   uuid NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    flow_run_id  uuid,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'completed', 'failed', 'skipped')),
    chunks       integer NOT NULL DEFAULT 0,
    embedded     integer NOT NULL DEFAULT 0,
    reused       integer NOT NULL DEFAULT 0,
    timings      jsonb NOT NULL DEFAULT '{}'::jsonb,
    error        text,
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX IF NOT EXISTS ingestion_runs_source_idx ON ingestion_runs (source_id, started_at);
