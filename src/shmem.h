/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		State shared by the background worker and every session that
 *		publishes: the worker's latch (to wake it on commit), the rate
 *		limiter, the pauses (429, bad token) and the worker's status.
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

	/* rate limiting, shared by the worker and every drain() */
	TimestampTz next_slot;		/* earliest time of the next request */
	TimestampTz paused_until;	/* after a 429 */
	char		rate_reason[WEBFLOW_REASON_LEN];
	int			server_limit;	/* last X-RateLimit-Limit */
	int			server_remaining;	/* last X-RateLimit-Remaining */

	/* a rejected token pauses the queue until the settings change */
	bool		auth_paused;
	uint64		auth_config_hash;
	char		auth_reason[WEBFLOW_REASON_LEN];
	TimestampTz auth_probe_at;	/* a paused queue tries one pass then */
	int			auth_probes;	/* probes refused since the pause began */

	/* failed requests in a row: reads that fail wait this much longer */
	int			outage_streak;
} WebflowShared;

extern void webflow_shmem_init(void);
extern WebflowShared *webflow_shared(void);
extern bool webflow_shmem_available(void);
extern void webflow_wake_worker(void);
extern void webflow_worker_wakeable(bool wakeable);

#endif							/* WEBFLOW_SHMEM_H */
