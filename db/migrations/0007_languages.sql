-- Languages (issue 28). A chatbot's language (en, ar, multi) picks its embedding model, its
-- text-search configuration and the language of its replies; `chatbots.language` stays the
-- regconfig its chunks are indexed with, `language_code` is the owner's choice.
ALTER TABLE chatbots ADD COLUMN IF NOT EXISTS language_code text NOT NULL DEFAULT 'en'
    CHECK (language_code IN ('en', 'ar', 'multi'));

-- Arabic and English in one configuration: Arabic words through the Snowball Arabic stemmer,
-- ASCII words through the English one (PostgreSQL's `arabic` leaves them unstemmed).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'intaj_arabic') THEN
        CREATE TEXT SEARCH CONFIGURATION intaj_arabic (COPY = pg_catalog.arabic);
        ALTER TEXT SEARCH CONFIGURATION intaj_arabic
            ALTER MAPPING FOR asciiword, asciihword, hword_asciipart WITH english_stem;
    END IF;
END $$;

-- One normalisation, applied identically to documents (the generated tsvector below) and to
-- queries (db/search.py): Arabic diacritics (tashkeel, superscript alef), tatweel and bidi
-- marks removed; hamza-carrying alefs and alef wasla to alef, alef maqsura to ya, ta marbuta
-- to ha; Arabic-Indic and extended Arabic-Indic digits to ASCII. Latin text is unchanged.
CREATE OR REPLACE FUNCTION intaj_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(
        regexp_replace(t, '[\u064B-\u065F\u0670\u0640\u200E\u200F\u202A-\u202E\u2066-\u2069]', '', 'g'),
        'أإآٱىة٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹',
        'اااايه01234567890123456789')
$$;

ALTER TABLE chunks DROP COLUMN IF EXISTS tsv;
ALTER TABLE chunks ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (to_tsvector(language, intaj_fold(content))) STORED;
CREATE INDEX IF NOT EXISTS chunks_tsv_idx ON chunks USING gin (tsv);

-- A chunk's sentences' vectors (each sentence embedded on its own, for models that rank by
-- sentence as well as by chunk: search_sentence_weight, pipeline/sentences.py). NULL for the
-- others, and for one-sentence chunks. Swapped with the chunk row that holds them.
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS sentence_embeddings vector[];
