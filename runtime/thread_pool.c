// thread_pool.c: the lock-step pool of thread_pool.h (pthreads and C11
// atomics).
#include "runtime/thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/util.h"

struct ThreadPool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    uint64_t run_id;    // bumped for every run (under mu)
    bool quit;
    const PoolStep *steps;
    int n_steps;
    atomic_int arrived;  // barrier: threads at the current barrier
    atomic_uint phase;   // barrier: bumped when all have arrived
};

// ----------------------------------------------------------------------------
// barrier

static void barrier(ThreadPool *p) {
    unsigned phase = atomic_load_explicit(&p->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->arrived, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->phase, 1, memory_order_acq_rel);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&p->phase, memory_order_acquire) == phase; spins++)
        if (spins > 2000) sched_yield(); // a core shared with others: do not burn it
}

static void run_steps(ThreadPool *p, int64_t ith) {
    for (int s = 0; s < p->n_steps; s++) {
        p->steps[s].fn(p->steps[s].arg, ith, p->n);
        barrier(p);
    }
}

// ----------------------------------------------------------------------------
// workers

typedef struct {
    ThreadPool *p;
    int64_t ith;
} WorkerArg;

static void *worker(void *arg) {
    WorkerArg w = *(WorkerArg *)arg;
    free(arg);
    ThreadPool *p = w.p;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->run_id == seen) pthread_cond_wait(&p->wake, &p->mu);
        bool quit = p->quit;
        seen = p->run_id;
        pthread_mutex_unlock(&p->mu);
        if (quit) return NULL;
        run_steps(p, w.ith);
        barrier(p); // the run is over for everyone
    }
}

ThreadPool *pool_new(int n_threads) {
    AWQC_ASSERT(n_threads >= 1);
    ThreadPool *p = xcalloc(1, sizeof *p);
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = xcalloc((size_t)n_threads, sizeof *p->threads);
    for (int i = 1; i < n_threads; i++) {
        WorkerArg *a = xmalloc(sizeof *a);
        *a = (WorkerArg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker, a) != 0) AWQC_PANIC("cannot start a worker thread");
    }
    return p;
}

void pool_free(ThreadPool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}

int pool_threads(const ThreadPool *p) { return p->n; }

void pool_run(ThreadPool *p, const PoolStep *steps, int n_steps) {
    pthread_mutex_lock(&p->mu);
    p->steps = steps;
    p->n_steps = n_steps;
    p->run_id++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_steps(p, 0);
    barrier(p);
}
