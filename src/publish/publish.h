/*-------------------------------------------------------------------------
 *
 * publish.h
 *		The types of the publish pipeline: a pass over the outbox (by the
 *		background worker or webflow.drain()), the bindings it sees, the
 *		changes it claimed, what each needs, and how each ended.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_PUBLISH_H
#define WEBFLOW_PUBLISH_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "connection.h"
#include "payload.h"

/*
 * The predicates of the outbox's partial indexes, word for word, for the
 * statements that must say them for the planner to use those indexes
 * (the outbox has no index on id alone; see webflow--1.0--1.1.sql).  A
 * fresh row (pending, never put back: as the trigger writes every row) is
 * in outbox_fresh (id) only; every other row is in outbox_row (binding_id,
 * row_key, id), and the pending ones among them in outbox_due.  a is the
 * outbox's alias in the statement.
 */
#define OUTBOX_FRESH_PREDICATE(a) \
	"(" a ".state OPERATOR(pg_catalog.=) 'pending'" \
	" AND " a ".next_attempt_at OPERATOR(pg_catalog.=) " a ".enqueued_at)"
#define OUTBOX_ROW_PREDICATE(a) \
	"(" a ".state OPERATOR(pg_catalog.<>) 'pending'" \
	" OR " a ".next_attempt_at OPERATOR(pg_catalog.<>) " a ".enqueued_at)"

/* A table bound to a collection, as a pass sees it. */
typedef struct Binding
{
	int32		id;
	char	   *collection_id;
	char	   *on_delete;		/* unpublish, unpublish_only, archive, ignore */
	bool		live;
	Jsonb	   *payload_options;	/* item_payload options of the binding */
	WebflowPayloadState *payload;	/* prepared lazily */
	char	   *payload_error;	/* why the options cannot be used */
	Oid			table_owner;	/* owner of the bound table: whose
								 * collections its references may name */
	bool		schema_checked; /* this pass made sure of the schema */
	int			schema_outcome; /* ChangeOutcome: OUTCOME_PENDING when known */
	char	   *schema_error;	/* why the schema is not known now */
	bool		schema_busy;	/* another transaction is storing it */
	WebflowConnection conn;		/* where its requests go, with whose token */
	char	   *conn_refusal;	/* why that connection cannot be used now */
} Binding;

/* What a change needs sent. */
typedef enum ChangeAction
{
	ACTION_NONE,				/* nothing to send: done */
	ACTION_CREATE,
	ACTION_RESOLVE,				/* change whose earlier create may have
								 * happened: look the item up by slug */
	ACTION_UPDATE,
	ACTION_UNPUBLISH_DELETE,
	ACTION_UNPUBLISH,
	ACTION_ARCHIVE,
	ACTION_DELETE,				/* second step of ACTION_UNPUBLISH_DELETE */
	ACTION_RELEASE				/* second step of ACTION_UNPUBLISH: the draft
								 * item that stays gives up its slug */
} ChangeAction;

/* How a change ended in this pass. */
typedef enum ChangeOutcome
{
	OUTCOME_PENDING,			/* not decided yet */
	OUTCOME_DONE,				/* Webflow has it: forget the outbox rows */
	OUTCOME_RETRY,				/* try again later; counts an attempt */
	OUTCOME_FAILED,				/* permanent: Webflow rejected it */
	OUTCOME_DEFER,				/* not sent (paused); no attempt counted */
	OUTCOME_WAIT				/* a read failed (the network's problem, not
								 * the row's): no attempt counted, tried
								 * again after the queue's outage delay */
} ChangeOutcome;

/* The newest state of one (binding, row key) in the claimed batch. */
typedef struct Change
{
	int32		binding_id;
	Binding    *binding;		/* NULL when the binding is gone */
	char	   *row_key;
	int64		newest_id;		/* outbox row that carries the state */
	List	   *older_ids;		/* superseded outbox rows (int64 *) */
	bool		is_delete;
	Jsonb	   *image;			/* row image of an upsert */
	Jsonb	   *last_upsert_image;	/* newest upsert image among its rows */
	List	   *unknown_images; /* images of rows that may have been sent */
	List	   *candidate_slugs;	/* slugs its item may have in Webflow */
	List	   *candidate_names;	/* names of the states an earlier create
									 * may have sent */
	bool		maybe_sent;		/* an earlier attempt may have reached Webflow */
	int			attempts;

	/* the item map before this pass */
	char	   *item_id;
	char	   *mapped_slug;
	char	   *mapped_hash;

	/* what to send */
	ChangeAction action;
	Jsonb	   *payload;
	char	   *slug;
	char	   *hash;

	/* how it ended */
	ChangeOutcome outcome;
	bool		unknown_outcome;	/* sent, but no answer */
	int			status;			/* last HTTP status, 0 for none */
	char	   *error;
	char	   *new_item_id;	/* item map after this pass (NULL: unchanged) */
	bool		unmap;			/* remove the item map entry */
	bool		reference_wait; /* a referenced row has no item yet */
	bool		reference_queued;	/* ... and is queued to get one */
	char	   *missing_collection; /* that referenced row: its collection */
	char	   *missing_key;	/* ... and row key */
	char	   *slug_holder_key;	/* the row (not in this pass) whose item
									 * holds the slug it wants: its next
									 * attempt comes with this change's */
	bool		slug_holder_queued; /* ... and that row has a change queued */
} Change;

/* How long a pass may wait (the worker, or the one drain() starts). */
typedef struct PassOptions
{
	int			max_wait_ms;	/* longest wait for the rate limiter */
	bool		several_connections;	/* the pass's bindings use more than one */
} PassOptions;

#endif							/* WEBFLOW_PUBLISH_H */
