-- api_comments: comment threads and replies (read-only).
SELECT wftest.reset();
\set site '''580e63e98c9a982ac9b8b741'''

SELECT c->>'id' AS id, c->>'isResolved' AS resolved, c->'author'->>'name' AS author
FROM webflow.list_comment_threads(:site) c ORDER BY 1;

SELECT c->>'content' IS NOT NULL AS has_content, c->>'siteId' AS site
FROM webflow.get_comment_thread(:site, '679d2ddb5196117ad04d1f01') c;

SELECT count(*) AS replies FROM webflow.list_comment_replies(:site, '679d2ddb5196117ad04d1f01');
SELECT count(*) AS replies FROM webflow.list_comment_replies(:site, '679d2ddb5196117ad04d1f03');

SELECT wftest.error_of($$SELECT webflow.get_comment_thread('580e63e98c9a982ac9b8b741', '679d2ddb5196117ad04d1f99')$$);
SELECT wftest.error_of($$SELECT webflow.list_comment_replies('580e63e98c9a982ac9b8b741', 'thread')$$);
SELECT wftest.error_of($$SELECT webflow.list_comment_threads(NULL)$$);
