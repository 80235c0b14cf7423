# Makefile: PGXS build of the webflow extension.
#
# libcurl flags come from curl-config; the extension version is read from
# webflow.control and passed to C as EXTVERSION.

EXTENSION = webflow
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

# The sources are in src/ (shared by all) and its three parts, src/api/,
# src/payload/ and src/publish/ (doc/architecture.md); each folder is on the
# include path.
SRCDIRS = src src/api src/payload src/publish

MODULE_big = webflow
OBJS = $(patsubst %.c,%.o,$(sort $(foreach d,$(SRCDIRS),$(wildcard $(d)/*.c))))
DATA = $(EXTENSION)--1.0.sql $(EXTENSION)--1.0--1.1.sql
PGFILEDESC = "webflow - publish rows to Webflow CMS collections"

# pg_regress suites, all run against the local Webflow fake (test/):
# API_TESTS call the API's endpoints (scripts/test runs them again through
# the spec-validating proxy); LOCAL_TESTS are about rows to items, settings
# and publishing.
API_TESTS = api_token api_sites api_items api_staged api_comments api_webhooks api_request
LOCAL_TESTS = settings http_faults payload_slugify payload_item payload_schema publish publish_recovery bad_input privileges verify connections row_image outbox_batch key_ddl
REGRESS = setup $(LOCAL_TESTS) $(API_TESTS)
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

TAP_TESTS = 1

CURL_CONFIG ?= curl-config
PG_CPPFLAGS = -DEXTVERSION=\"$(EXTVERSION)\" $(addprefix -I$(srcdir)/,$(SRCDIRS)) $(shell $(CURL_CONFIG) --cflags)
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = $(shell $(CURL_CONFIG) --libs)

# SANITIZE=1 builds with AddressSanitizer and UBSan (see scripts/test).
ifdef SANITIZE
PG_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SHLIB_LINK += -fsanitize=address,undefined
endif

EXTRA_CLEAN = tmp_check_* $(EXTENSION)-*.zip

# make installcheck (against a running server, as a superuser) starts the
# local Webflow fake for the run and points the sessions at it with
# PGOPTIONS (test/installcheck); TAP tests need scripts/test.
NO_INSTALLCHECK = 1

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

installcheck:
	PG_CONFIG='$(PG_CONFIG)' $(srcdir)/test/installcheck $(REGRESS_OPTS) $(REGRESS)
.PHONY: installcheck

# make dist: the source archive PGXN accepts (META.json at its top, named
# for the release's version), from what is committed at HEAD.
DISTVERSION = $(shell sed -n 's/^   "version": "\([^"]*\)",$$/\1/p' META.json)
dist:
	git archive --format zip --prefix=$(EXTENSION)-$(DISTVERSION)/ \
		-o $(EXTENSION)-$(DISTVERSION).zip HEAD
	@echo "$(EXTENSION)-$(DISTVERSION).zip"
.PHONY: dist

# Used by scripts/test to learn the test lists.
print-api-tests:
	@echo $(API_TESTS)
print-regress-tests:
	@echo $(REGRESS)
.PHONY: print-api-tests print-regress-tests
