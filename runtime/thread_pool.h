// thread_pool.h: a small pool for running a list of steps in lock-step: every
// thread runs its share of step 0, all wait at a barrier, then step 1, and so
// on. Workers sleep between runs and spin briefly at barriers, since a
// decode step is thousands of short kernels a few microseconds apart.
#ifndef AWQC_THREAD_POOL_H
#define AWQC_THREAD_POOL_H

#include <stdint.h>

typedef void (*PoolStepFn)(void *arg, int64_t ith, int64_t nth);

typedef struct {
    PoolStepFn fn;
    void *arg;
} PoolStep;

typedef struct ThreadPool ThreadPool;

// n_threads >= 1 (the caller's thread counts as one).
ThreadPool *pool_new(int n_threads);
void pool_free(ThreadPool *p);
int pool_threads(const ThreadPool *p);
// Runs the steps in order on every thread, returning when all are done.
void pool_run(ThreadPool *p, const PoolStep *steps, int n_steps);

#endif
