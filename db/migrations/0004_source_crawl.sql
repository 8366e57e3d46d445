-- URL sources: whether to crawl the site from the URL (each same-site page a document of the
-- source, cited by its own URL). NULL follows the deployment's INTAJ_URL_CRAWL setting.
ALTER TABLE data_sources ADD COLUMN IF NOT EXISTS crawl boolean;
