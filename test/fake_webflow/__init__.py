# Package of the stateful Webflow Data API v2 fake used by the tests of the
# webflow PostgreSQL extension; the command-line entry is test/webflow_fake.py.
