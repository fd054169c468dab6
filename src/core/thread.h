/*
 * core/thread.h — names for the server's threads, so that `top -H`,
 * `perf top`, gdb and /proc/PID/task/TID/comm tell the metadata thread
 * from an HTTP worker or the Raft thread (every thread was "cairn").
 *
 * Thread rules: names the calling thread; call it first thing in a
 * thread's main function.
 */
#ifndef CAIRN_CORE_THREAD_H
#define CAIRN_CORE_THREAD_H

#include <pthread.h>

/* Names the calling thread "cairn-" followed by what (Linux keeps 15
 * bytes: a longer name is cut there). Best effort: a failure is ignored,
 * since a name only helps whoever reads it. */
void cn_thread_name(const char *what);
/* The same with a number after what, e.g. ("http", 0) -> "cairn-http0". */
void cn_thread_name_n(const char *what, int n);
/* pthread_create(th, NULL, fn, arg), the new thread then named "cairn-"
 * what by its creator (until then it has the creator's name): for helper
 * threads whose main function is shared with a thread named otherwise.
 * Returns pthread_create's result (0 or a positive errno). */
int cn_thread_create(pthread_t *th, const char *what, void *(*fn)(void *), void *arg);

/* Starts libuv's thread pool now, from the calling thread, with its
 * threads named "cairn-pool": libuv starts them at the first job, and a
 * thread is born with its creator's name (an HTTP worker's, had the first
 * job come from one). UV_THREADPOOL_SIZE must be set before. Returns 0 or
 * a negative errno. Call before other threads start (it renames the
 * calling thread for the moment it takes). */
int cn_thread_pool_start(void);

#endif
