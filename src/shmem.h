/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		State shared by the background worker and every session that
 *		publishes: the worker's latch (to wake it on commit), the request
 *		budget of each connection with its pauses (429, bad token), and the
 *		worker's status.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_SHMEM_H
#define WEBFLOW_SHMEM_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/spin.h"

#define WEBFLOW_REASON_LEN 256

/* The longest pause of a connection (a probe after a refused token). */
#define WEBFLOW_LONGEST_PAUSE_S 600

/*
 * The request budget of one connection, shared by the worker and every
 * drain(): Webflow limits requests per token, so a budget belongs to a
 * token (and API URL), whatever connections name it.  See ratelimit.c.
 */
typedef struct WebflowBudget
{
	uint64		key;			/* webflow_connection_key(); 0: a free slot */
	char		name[NAMEDATALEN];	/* the connection of its token used last */
	TimestampTz last_used;
	int			rate_limit;		/* requests per minute */
	TimestampTz rate_set_at;	/* when rate_limit was last raised */
	int64		requests;		/* sent, ever */
	TimestampTz minute_start;	/* the current minute of use */
	int			minute_requests;	/* sent in it */

	TimestampTz next_slot;		/* earliest time of the next request */
	TimestampTz paused_until;	/* after a 429 */
	char		rate_reason[WEBFLOW_REASON_LEN];
	int			server_limit;	/* last X-RateLimit-Limit */
	int			server_remaining;	/* last X-RateLimit-Remaining */

	/* a rejected token pauses its budget until it changes (or a probe) */
	bool		auth_paused;
	char		auth_reason[WEBFLOW_REASON_LEN];
	TimestampTz auth_probe_at;	/* a paused budget tries one request then */
	int			auth_probes;	/* probes refused since the pause began */

	/* failed requests in a row: reads that fail wait this much longer */
	int			outage_streak;
} WebflowBudget;

typedef struct WebflowShared
{
	slock_t		mutex;

	/* the background worker */
	pid_t		worker_pid;
	Latch	   *worker_latch;
	TimestampTz worker_started;
	TimestampTz last_pass;
	TimestampTz last_success;
	char		worker_state[64];
	char		worker_problem[WEBFLOW_REASON_LEN];
	int64		rows_done;
	int64		rows_failed;
	int64		requests_sent;
	int64		items_sent;

	/*
	 * A lifted pause (reload, retry()) makes the changes that waited for it
	 * due: those waiting until no later than this time.
	 */
	TimestampTz resume_horizon;

	/* one request budget per connection (token), webflow.max_connections */
	int			nbudgets;
	WebflowBudget budgets[FLEXIBLE_ARRAY_MEMBER];
} WebflowShared;

extern void webflow_shmem_init(void);
extern WebflowShared *webflow_shared(void);
extern bool webflow_shmem_available(void);
extern void webflow_wake_worker(void);
extern void webflow_worker_wakeable(bool wakeable);

#endif							/* WEBFLOW_SHMEM_H */
