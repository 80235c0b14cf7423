/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		The shared-memory state of the webflow extension.
 *
 * With webflow in shared_preload_libraries the state lives in shared
 * memory, so that the worker and every session see one rate limiter and
 * one pause.  Without it (a managed host, say) each process keeps its own
 * copy and only rate-limits itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "shmem.h"
#include "webflow.h"

static WebflowShared *shared = NULL;
static WebflowShared *local_state = NULL;

#if WEBFLOW_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void shmem_request(void);
static void shmem_startup(void);
static Size state_size(void);
static void init_state(WebflowShared *state);

/* state_size is the size of the shared state with its budgets. */
static Size
state_size(void)
{
	return add_size(offsetof(WebflowShared, budgets),
					mul_size(sizeof(WebflowBudget), webflow_max_connections));
}

/* init_state gives a fresh state its starting values. */
static void
init_state(WebflowShared *state)
{
	memset(state, 0, state_size());
	SpinLockInit(&state->mutex);
	state->nbudgets = webflow_max_connections;
	/* a restart forgets every pause: what waited for one is due again */
	state->resume_horizon = GetCurrentTimestamp() + (int64) WEBFLOW_LONGEST_PAUSE_S * USECS_PER_SEC;
	strlcpy(state->worker_state, "not started", sizeof(state->worker_state));
}

/* shmem_request asks the postmaster for our share of shared memory. */
static void
shmem_request(void)
{
#if WEBFLOW_HAS_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(state_size()));
}

/* shmem_startup creates or attaches the shared state. */
static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("webflow", state_size(), &found);
	if (!found)
		init_state(shared);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * webflow_shmem_init installs the shared-memory hooks; called from
 * _PG_init while shared_preload_libraries is being processed.
 */
void
webflow_shmem_init(void)
{
#if WEBFLOW_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
#else
	shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/* webflow_shmem_available says whether the state is really shared. */
bool
webflow_shmem_available(void)
{
	return shared != NULL;
}

/*
 * webflow_shared returns the shared state, or this process's own copy when
 * the library was not preloaded.
 */
WebflowShared *
webflow_shared(void)
{
	if (shared != NULL)
		return shared;
	if (local_state == NULL)
	{
		local_state = MemoryContextAlloc(TopMemoryContext, state_size());
		init_state(local_state);
	}
	return local_state;
}

/* webflow_wake_worker sets the background worker's latch, if it runs. */
void
webflow_wake_worker(void)
{
	Latch	   *latch = NULL;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->worker_pid != 0)
		latch = shared->worker_latch;
	SpinLockRelease(&shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * webflow_worker_wakeable says whether commits should wake the worker: a
 * disabled worker is not woken at all, so it costs the writers nothing.
 */
void
webflow_worker_wakeable(bool wakeable)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->worker_latch = wakeable ? MyLatch : NULL;
	SpinLockRelease(&shared->mutex);
}
