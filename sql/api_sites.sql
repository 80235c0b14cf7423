-- api_sites: sites, custom domains, publishing, collections.
SELECT wftest.reset();

SELECT s->>'id' AS id, s->>'displayName' AS name,
       s->'locales'->'primary'->>'cmsLocaleId' AS primary_locale
FROM webflow.list_sites() s;

SELECT s->>'shortName' AS short_name
FROM webflow.get_site('580e63e98c9a982ac9b8b741') s;

SELECT d->>'id' AS id, d->>'url' AS url
FROM webflow.get_custom_domains('580e63e98c9a982ac9b8b741') d ORDER BY 1;

SELECT p->'customDomains' IS NOT NULL AS has_domains, p->>'publishToWebflowSubdomain' AS subdomain
FROM webflow.publish_site('580e63e98c9a982ac9b8b741',
                          custom_domains => ARRAY['589a331aa51e760df7ccb89d'],
                          publish_to_webflow_subdomain => true) p;

SELECT c->>'id' AS id, c->>'displayName' AS name, c->>'slug' AS slug
FROM webflow.list_collections('580e63e98c9a982ac9b8b741') c ORDER BY 1;

SELECT f->>'slug' AS slug, f->>'type' AS type, (f->>'isRequired')::boolean AS required
FROM jsonb_array_elements(webflow.get_collection('580e63fc8c9a982ac9b8b746')->'fields') f;

-- errors: unknown ids, bad ids, NULLs, nothing to publish to
SELECT * FROM wftest.error_full($$SELECT webflow.get_site('580e63e98c9a982ac9b8b799')$$);
SELECT wftest.error_of($$SELECT webflow.get_collection('580e63fc8c9a982ac9b8b799')$$);
SELECT wftest.error_of($$SELECT webflow.get_site(NULL)$$);
SELECT wftest.error_of($$SELECT webflow.get_site('')$$);
SELECT wftest.error_of($$SELECT webflow.get_site('580E63E98C9A982AC9B8B741')$$);
SELECT wftest.error_of($$SELECT webflow.get_site('../../token/introspect')$$);
SELECT wftest.error_of($$SELECT webflow.list_collections('abc')$$);
SELECT * FROM wftest.error_full($$SELECT webflow.publish_site('580e63e98c9a982ac9b8b741')$$);
SELECT wftest.error_of($$SELECT webflow.publish_site('580e63e98c9a982ac9b8b741', ARRAY['example.com'])$$);
SELECT wftest.error_of($$SELECT webflow.publish_site('580e63e98c9a982ac9b8b741', ARRAY[NULL])$$);

-- what the fake received (the refused calls sent nothing)
SELECT method, path, status FROM wftest.requests();
