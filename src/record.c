/*-------------------------------------------------------------------------
 *
 * record.c
 *		The last step of an outbox pass: write down, in one short
 *		transaction and a handful of set-based statements, how each change
 *		ended: done rows deleted (with the rows they superseded), item ids
 *		into webflow.items, the others back to pending after a jittered,
 *		capped exponential backoff, or failed for good.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "jsonb_util.h"
#include "payload.h"
#include "publish.h"
#include "ratelimit.h"
#include "shmem.h"
#include "webflow.h"

static int	rows_of(List *changes);
static Datum *datums(int n);
static bool *flags(int n);
static void exec_arrays(const char *sql, int nargs, Oid *types, Datum *args);
static Datum make_array(Datum *elems, bool *nulls, int n, Oid type);
static double backoff_seconds(int attempts, double jitter);

/*
 * backoff_seconds is the wait before the next attempt: exponential in the
 * attempts made, capped at five minutes, times the pass's jitter (so that
 * the rows of one batch stay together and are sent again as one batch).
 */
static double
backoff_seconds(int attempts, double jitter)
{
	return Min(300.0, pow(2.0, Max(attempts - 1, 0))) * jitter;
}

/* datums allocates room for n Datums (at least one). */
static Datum *
datums(int n)
{
	return palloc(sizeof(Datum) * Max(n, 1));
}

/* flags allocates room for n bools (at least one). */
static bool *
flags(int n)
{
	return palloc(sizeof(bool) * Max(n, 1));
}

/* rows_of counts the outbox rows of a pass's changes. */
static int
rows_of(List *changes)
{
	ListCell   *lc;
	int			rows = 0;

	foreach(lc, changes)
		rows += 1 + list_length(((Change *) lfirst(lc))->older_ids);
	return rows;
}

/* exec_arrays runs one statement of the record step. */
static void
exec_arrays(const char *sql, int nargs, Oid *types, Datum *args)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);

	if (ret < 0)
		elog(ERROR, "webflow: recording the pass failed: %s", SPI_result_code_string(ret));
}

/* make_array builds a one-dimensional array of n datums of a type. */
static Datum
make_array(Datum *elems, bool *nulls, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}

/*
 * webflow_record_pass writes the outcome of every change of a pass and returns how
 * many outbox rows were completed.
 */
int64
webflow_record_pass(List *changes)
{
	int			n = list_length(changes);
	int			cap = n;
	int			rows = rows_of(changes);
	ListCell   *lc;
	int64		completed = 0;

	/* rows to delete: superseded ones and the newest of done changes */
	Datum	   *del_ids;
	int			ndel = 0;

	/* failed rows of done keys */
	Datum	   *dk_binding = datums(cap);
	Datum	   *dk_key = datums(cap);
	Datum	   *dk_max = datums(cap);
	int			ndk = 0;

	/* item map upserts */
	Datum	   *m_coll = datums(cap);
	Datum	   *m_key = datums(cap);
	Datum	   *m_item = datums(cap);
	Datum	   *m_slug = datums(cap);
	bool	   *m_slug_null = flags(cap);
	Datum	   *m_hash = datums(cap);
	bool	   *m_hash_null = flags(cap);
	Datum	   *m_live = datums(cap);
	int			nm = 0;

	/* item map deletes */
	Datum	   *u_coll = datums(cap);
	Datum	   *u_key = datums(cap);
	int			nu = 0;

	/* rows that stay: retried, failed or deferred */
	Datum	   *r_id = datums(rows);
	Datum	   *r_inc = datums(rows);
	Datum	   *r_delay = datums(rows);
	Datum	   *r_err = datums(rows);
	bool	   *r_err_null = flags(rows);
	Datum	   *r_status = datums(rows);
	bool	   *r_status_null = flags(rows);
	Datum	   *r_unknown = datums(rows);
	Datum	   *r_fail = datums(rows);
	int			nr = 0;

	/* bindings that succeeded or failed */
	Datum	   *ok_bindings = datums(cap);
	int			nok = 0;
	Datum	   *bad_bindings = datums(cap);
	Datum	   *bad_errors = datums(cap);
	int			nbad = 0;
	int64		failed = 0;

	int			total = 0;
	double		jitter = 0.5 + 0.5 * ((double) random() / (double) PG_INT32_MAX);
	double		outage_delay = webflow_outage_delay() * jitter;

	foreach(lc, changes)
		total += 1 + list_length(((Change *) lfirst(lc))->older_ids);
	del_ids = datums(total);

	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);
		ListCell   *lc2;

		/* superseded rows go with a done change; otherwise they stay with it */
		foreach(lc2, c->older_ids)
		{
			if (c->outcome != OUTCOME_DONE)
				continue;
			del_ids[ndel++] = Int64GetDatum(*(int64 *) lfirst(lc2));
			completed++;
		}

		if (c->binding != NULL && (c->new_item_id != NULL || c->unmap))
		{
			if (c->new_item_id != NULL)
			{
				/*
				 * A found or adopted item whose update did not go through
				 * keeps the slug it was found with, and no hash (so that
				 * the update is sent again).
				 */
				bool		done = c->outcome == OUTCOME_DONE;
				bool		keep_hash = done && (c->action == ACTION_CREATE ||
												 c->action == ACTION_UPDATE ||
												 c->action == ACTION_RESOLVE);
				char	   *slug = done && c->slug ? c->slug : c->mapped_slug;

				m_coll[nm] = CStringGetTextDatum(c->binding->collection_id);
				m_key[nm] = CStringGetTextDatum(c->row_key);
				m_item[nm] = CStringGetTextDatum(c->new_item_id);
				m_slug_null[nm] = slug == NULL;
				m_slug[nm] = slug == NULL ? (Datum) 0 : CStringGetTextDatum(slug);
				m_hash_null[nm] = !keep_hash || c->hash == NULL;
				m_hash[nm] = m_hash_null[nm] ? (Datum) 0 : CStringGetTextDatum(c->hash);
				m_live[nm] = BoolGetDatum(c->binding->live && keep_hash);
				nm++;
			}
			else
			{
				u_coll[nu] = CStringGetTextDatum(c->binding->collection_id);
				u_key[nu] = CStringGetTextDatum(c->row_key);
				nu++;
			}
		}

		switch (c->outcome)
		{
			case OUTCOME_DONE:
				del_ids[ndel++] = Int64GetDatum(c->newest_id);
				completed++;
				dk_binding[ndk] = Int32GetDatum(c->binding_id);
				dk_key[ndk] = CStringGetTextDatum(c->row_key);
				dk_max[ndk] = Int64GetDatum(c->newest_id);
				ndk++;
				if (c->binding != NULL && c->action != ACTION_NONE)
					ok_bindings[nok++] = Int32GetDatum(c->binding_id);
				break;
			case OUTCOME_RETRY:
			case OUTCOME_FAILED:
			case OUTCOME_DEFER:
			case OUTCOME_WAIT:
			case OUTCOME_PENDING:
				r_id[nr] = Int64GetDatum(c->newest_id);
				r_inc[nr] = Int32GetDatum(c->outcome == OUTCOME_RETRY ||
										  c->outcome == OUTCOME_FAILED ? 1 : 0);
				r_delay[nr] = Float8GetDatum(c->outcome == OUTCOME_WAIT ? outage_delay :
											 c->outcome != OUTCOME_RETRY ? 0.0 :
											 c->reference_wait && c->attempts < 2 ? 0.0 :
											 backoff_seconds(c->attempts + 1, jitter));
				r_err_null[nr] = c->error == NULL;
				r_err[nr] = c->error ? CStringGetTextDatum(c->error) : (Datum) 0;
				r_status_null[nr] = c->status == 0;
				r_status[nr] = Int32GetDatum(c->status);
				r_unknown[nr] = BoolGetDatum(c->unknown_outcome);
				r_fail[nr] = BoolGetDatum(c->outcome == OUTCOME_FAILED);
				nr++;
				/*
				 * The rows it superseded keep their images and "maybe sent"
				 * marks (the slugs an earlier create may have used) and
				 * follow it, so that they are claimed with it again.
				 */
				foreach(lc2, c->older_ids)
				{
					r_id[nr] = Int64GetDatum(*(int64 *) lfirst(lc2));
					r_inc[nr] = r_inc[nr - 1];
					r_delay[nr] = r_delay[nr - 1];
					r_err_null[nr] = true;
					r_err[nr] = (Datum) 0;
					r_status_null[nr] = true;
					r_status[nr] = Int32GetDatum(0);
					r_unknown[nr] = r_unknown[nr - 1];
					r_fail[nr] = r_fail[nr - 1];
					nr++;
				}
				if (c->outcome == OUTCOME_FAILED ||
					(c->outcome == OUTCOME_RETRY && c->attempts + 1 >= webflow_max_attempts))
				{
					failed++;
					if (c->binding != NULL && c->error != NULL)
					{
						bad_bindings[nbad] = Int32GetDatum(c->binding_id);
						bad_errors[nbad] = CStringGetTextDatum(c->error);
						nbad++;
					}
				}
				break;
		}
	}

	if (ndel > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		args[1];

		args[0] = make_array(del_ids, NULL, ndel, INT8OID);
		exec_arrays("DELETE FROM webflow.outbox WHERE id = ANY($1)", 1, types, args);
	}
	if (ndk > 0)
	{
		Oid			types[3] = {INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
		Datum		args[3];

		args[0] = make_array(dk_binding, NULL, ndk, INT4OID);
		args[1] = make_array(dk_key, NULL, ndk, TEXTOID);
		args[2] = make_array(dk_max, NULL, ndk, INT8OID);
		exec_arrays("DELETE FROM webflow.outbox o"
					" USING unnest($1, $2, $3) AS d(b, k, m)"
					" WHERE o.binding_id = d.b AND o.row_key = d.k AND o.id < d.m"
					"   AND o.state = 'failed'", 3, types, args);
	}
	if (nu > 0)
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		Datum		args[2];

		args[0] = make_array(u_coll, NULL, nu, TEXTOID);
		args[1] = make_array(u_key, NULL, nu, TEXTOID);
		exec_arrays("DELETE FROM webflow.items i USING unnest($1, $2) AS d(c, k)"
					" WHERE i.collection_id = d.c AND i.source_key = d.k",
					2, types, args);
	}
	if (nm > 0)
	{
		Oid			types[6] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID};
		Datum		args[6];

		args[0] = make_array(m_coll, NULL, nm, TEXTOID);
		args[1] = make_array(m_key, NULL, nm, TEXTOID);
		args[2] = make_array(m_item, NULL, nm, TEXTOID);
		args[3] = make_array(m_slug, m_slug_null, nm, TEXTOID);
		args[4] = make_array(m_hash, m_hash_null, nm, TEXTOID);
		args[5] = make_array(m_live, NULL, nm, BOOLOID);
		exec_arrays("INSERT INTO webflow.items AS i"
					" (collection_id, source_key, item_id, slug, payload_hash, last_published)"
					" SELECT DISTINCT ON (c, k) c, k, it, s, h, CASE WHEN p THEN now() END"
					" FROM unnest($1, $2, $3, $4, $5, $6) WITH ORDINALITY AS d(c, k, it, s, h, p, n)"
					" ORDER BY c, k, n DESC"
					" ON CONFLICT (collection_id, source_key) DO UPDATE"
					" SET item_id = EXCLUDED.item_id, slug = EXCLUDED.slug,"
					"     payload_hash = EXCLUDED.payload_hash,"
					"     last_published = coalesce(EXCLUDED.last_published, i.last_published)",
					6, types, args);
	}
	if (nr > 0)
	{
		Oid			types[8] = {INT8ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID,
			TEXTARRAYOID, INT4ARRAYOID, BOOLARRAYOID, BOOLARRAYOID, INT4OID};
		Datum		args[8];

		args[0] = make_array(r_id, NULL, nr, INT8OID);
		args[1] = make_array(r_inc, NULL, nr, INT4OID);
		args[2] = make_array(r_delay, NULL, nr, FLOAT8OID);
		args[3] = make_array(r_err, r_err_null, nr, TEXTOID);
		args[4] = make_array(r_status, r_status_null, nr, INT4OID);
		args[5] = make_array(r_unknown, NULL, nr, BOOLOID);
		args[6] = make_array(r_fail, NULL, nr, BOOLOID);
		args[7] = Int32GetDatum(webflow_max_attempts);
		exec_arrays("UPDATE webflow.outbox o SET"
					" state = CASE WHEN d.fail OR (d.inc > 0 AND o.attempts + d.inc >= $8)"
					"         THEN 'failed' ELSE 'pending' END,"
					" attempts = o.attempts + d.inc,"
					" next_attempt_at = now() + make_interval(secs => d.delay),"
					" last_error = coalesce(d.err, o.last_error),"
					" last_status = coalesce(d.status, o.last_status),"
					" maybe_sent = o.maybe_sent OR d.unknown,"
					" claimed_at = NULL"
					" FROM unnest($1, $2, $3, $4, $5, $6, $7)"
					"   AS d(id, inc, delay, err, status, unknown, fail)"
					" WHERE o.id = d.id", 8, types, args);
	}
	if (nok > 0)
	{
		Oid			types[1] = {INT4ARRAYOID};
		Datum		args[1];

		args[0] = make_array(ok_bindings, NULL, nok, INT4OID);
		exec_arrays("UPDATE webflow.bindings SET last_success = now()"
					" WHERE id = ANY($1)", 1, types, args);
	}
	if (nbad > 0)
	{
		Oid			types[2] = {INT4ARRAYOID, TEXTARRAYOID};
		Datum		args[2];

		args[0] = make_array(bad_bindings, NULL, nbad, INT4OID);
		args[1] = make_array(bad_errors, NULL, nbad, TEXTOID);
		exec_arrays("UPDATE webflow.bindings b SET last_error = d.e, last_error_at = now()"
					" FROM (SELECT DISTINCT ON (b) b, e FROM unnest($1, $2) AS u(b, e)) d"
					" WHERE b.id = d.b", 2, types, args);
	}

	{
		WebflowShared *s = webflow_shared();

		SpinLockAcquire(&s->mutex);
		s->rows_done += completed;
		s->rows_failed += failed;
		if (nok > 0)
			s->last_success = GetCurrentTimestamp();
		SpinLockRelease(&s->mutex);
	}
	return completed;
}

