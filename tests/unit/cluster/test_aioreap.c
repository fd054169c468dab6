/*
 * Unit tests for cluster/aioreap: the process's syscall() passes every call
 * but io_destroy through to glibc with all six arguments and errno; an
 * io_destroy runs in the caller while the reaper is stopped, and is queued
 * and answered at once while it runs; stopping destroys what is queued.
 * Whether a context is gone is asked of the kernel: a second io_destroy of
 * it fails with EINVAL.
 */
#include <errno.h>
#include <linux/aio_abi.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cluster/aioreap.h"
#include "core/clock.h"

static aio_context_t new_ctx(void)
{
	aio_context_t ctx = 0;

	assert_int_equal(syscall(SYS_io_setup, 1, &ctx), 0);
	assert_true(ctx != 0);
	return ctx;
}

/* 1 if the kernel still knows ctx (then it is destroyed now), 0 if not. */
static int ctx_alive(aio_context_t ctx)
{
	long rv;

	errno = 0;
	rv = syscall(SYS_io_destroy, ctx);
	if (rv == 0)
		return 1;
	assert_int_equal(rv, -1);
	assert_int_equal(errno, EINVAL);
	return 0;
}

static void test_other_calls_pass_through(void **state)
{
	int fds[2], fd;
	char buf[4] = {0};
	void *p;

	(void)state;
	assert_int_equal(syscall(SYS_getpid), getpid());
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(syscall(SYS_write, fds[1], "abc", 3), 3);
	assert_int_equal(read(fds[0], buf, 3), 3);
	assert_string_equal(buf, "abc");
	close(fds[0]);
	close(fds[1]);
	/* a failure: -1 and errno, as glibc's syscall() gives them */
	errno = 0;
	assert_int_equal(syscall(SYS_close, -1), -1);
	assert_int_equal(errno, EBADF);
	/* six arguments: mmap's fifth is the fd, its sixth the offset */
	p = (void *)syscall(SYS_mmap, NULL, 8192, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 'A', 4096);
	memset((char *)p + 4096, 'B', 4096);
	fd = memfd_create("aioreap", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, 8192), 8192);
	assert_int_equal(syscall(SYS_munmap, p, 8192), 0);
	p = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
	assert_true(p != MAP_FAILED);
	assert_int_equal(((char *)p)[0], 'B');
	assert_int_equal(syscall(SYS_munmap, p, 4096), 0);
	close(fd);
}

static void test_destroy_in_caller_while_stopped(void **state)
{
	struct aioreap_stats a, b;
	aio_context_t ctx = new_ctx();

	(void)state;
	aioreap_stats(&a);
	assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
	assert_false(ctx_alive(ctx));
	aioreap_stats(&b);
	assert_int_equal(b.deferred, a.deferred);
}

static void test_destroy_deferred_while_running(void **state)
{
	struct aioreap_stats a, b;
	aio_context_t ctx[8];

	(void)state;
	aioreap_stats(&a);
	assert_int_equal(aioreap_start(), 0);
	assert_int_equal(aioreap_start(), 0); /* counted: a second user */
	for (int i = 0; i < 8; i++)
		ctx[i] = new_ctx();
	for (int i = 0; i < 8; i++)
		assert_int_equal(syscall(SYS_io_destroy, ctx[i]), 0);
	aioreap_stats(&b);
	assert_int_equal(b.deferred, a.deferred + 8);
	/* the first stop leaves the reaper running for the other user */
	aioreap_stop();
	aioreap_stop();
	/* stopped: everything queued was destroyed by the reaper, once */
	aioreap_stats(&b);
	assert_int_equal(b.destroyed, a.destroyed + 8);
	assert_true(b.max_ns > 0);
	for (int i = 0; i < 8; i++)
		assert_false(ctx_alive(ctx[i]));
	/* and io_destroy is the caller's again */
	ctx[0] = new_ctx();
	assert_int_equal(syscall(SYS_io_destroy, ctx[0]), 0);
	aioreap_stats(&a);
	assert_int_equal(a.deferred, b.deferred);
	assert_false(ctx_alive(ctx[0]));
}

/* The point of it: the caller does not wait for the kernel's destroy. Each
 * destroy waits for an RCU grace period (~35 ms each here), queueing takes
 * microseconds: 8 queued return sooner than 8 in the caller. */
static void test_deferred_destroys_do_not_wait(void **state)
{
	aio_context_t ctx[8];
	uint64_t t0, took;

	(void)state;
	for (int i = 0; i < 8; i++)
		ctx[i] = new_ctx();
	assert_int_equal(aioreap_start(), 0);
	t0 = cn_mono_ns();
	for (int i = 0; i < 8; i++)
		assert_int_equal(syscall(SYS_io_destroy, ctx[i]), 0);
	took = cn_mono_ns() - t0;
	aioreap_stop();
	for (int i = 0; i < 8; i++)
		assert_false(ctx_alive(ctx[i]));
	/* 8 synchronous destroys, for comparison */
	for (int i = 0; i < 8; i++)
		ctx[i] = new_ctx();
	t0 = cn_mono_ns();
	for (int i = 0; i < 8; i++)
		assert_int_equal(syscall(SYS_io_destroy, ctx[i]), 0);
	print_message("8 io_destroy: queued %.3f ms, in the caller %.3f ms\n", took / 1e6,
		      (cn_mono_ns() - t0) / 1e6);
	assert_true(took < cn_mono_ns() - t0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_calls_pass_through),
		cmocka_unit_test(test_destroy_in_caller_while_stopped),
		cmocka_unit_test(test_destroy_deferred_while_running),
		cmocka_unit_test(test_deferred_destroys_do_not_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
