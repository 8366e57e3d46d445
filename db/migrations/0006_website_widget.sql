-- Website widgets: a connection with platform 'website' is a public widget (its id is the
-- widget id in `<script data-chatbot="...">`). The origins (scheme://host[:port]) whose pages
-- may embed it are not secret, so they live in their own column, not in the sealed
-- credentials. Empty: the widget answers on no site.
ALTER TABLE connections ADD COLUMN IF NOT EXISTS allowed_origins text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS connections_chatbot_platform_idx ON connections (chatbot_id, platform);
