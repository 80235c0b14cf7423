-- api_webhooks: list, create, get and remove webhooks.
SELECT wftest.reset();
\set site '''580e63e98c9a982ac9b8b741'''

SELECT w->>'id' AS id, w->>'triggerType' AS trigger_type FROM webflow.list_webhooks(:site) w;

CREATE TEMP TABLE hook AS
SELECT webflow.create_webhook(:site, 'collection_item_changed', 'https://hooks.example.com/webflow') AS w;
SELECT w->>'triggerType' AS trigger_type, w->>'url' AS url, w->>'siteId' AS site FROM hook;

SELECT webflow.get_webhook(w->>'id')->>'url' AS url FROM hook;
SELECT count(*) FROM webflow.list_webhooks(:site);

SELECT webflow.create_webhook(:site, 'form_submission', 'https://hooks.example.com/forms',
                              '{"name": "Contact"}')->'filter' AS filter;

SELECT webflow.remove_webhook(w->>'id') FROM hook;
SELECT count(*) FROM webflow.list_webhooks(:site);
SELECT wftest.error_of($$SELECT webflow.get_webhook('$$ || (SELECT w->>'id' FROM hook) || $$')$$);

-- errors
SELECT * FROM wftest.error_full($$SELECT webflow.create_webhook('580e63e98c9a982ac9b8b741', 'row_inserted', 'https://x.example')$$);
SELECT wftest.error_of($$SELECT webflow.create_webhook('580e63e98c9a982ac9b8b741', 'site_publish', 'ftp://x.example')$$);
SELECT wftest.error_of($$SELECT webflow.create_webhook('580e63e98c9a982ac9b8b741', 'site_publish', NULL)$$);
SELECT wftest.error_of($$SELECT webflow.create_webhook('580e63e98c9a982ac9b8b741', 'form_submission', 'https://x.example', '"Contact"')$$);
SELECT wftest.error_of($$SELECT webflow.create_webhook('580e63e98c9a982ac9b8b741', 'site_publish', 'https://x.example', '{"name": "x"}')$$);
SELECT wftest.error_of($$SELECT webflow.remove_webhook('57ca0a9e418c504a6e1acb00')$$);
