// SPDX-License-Identifier: MIT
/*
 * Description: the tsor fd table: install, lookup, replace and remove;
 * dup'ed fds share one file and its release runs exactly once, after the
 * last slot and the last call in flight; fds beyond the table are refused;
 * and four threads racing lookups against installs and removals never see
 * a file after its release (each release is counted once per file life).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "tsor-int.h"

static _Atomic int released;

static void on_release(struct tsor_file *f)
{
	/* A released file must not be released again before it is reused. */
	assert_int_equal(f->listener_id, 1);
	f->listener_id = 0;
	atomic_fetch_add(&released, 1);
}

static struct tsor_file *fresh(void)
{
	struct tsor_file *f = tsor_file_new(TSOR_FILE_TCP);

	assert_non_null(f);
	f->listener_id = 1;
	return f;
}

static void test_basic(void **state)
{
	struct tsor_file *f, *g;

	(void)state;
	tsor_fd_set_release(on_release);
	atomic_store(&released, 0);
	assert_null(tsor_fd_get(5));
	assert_null(tsor_fd_get(-1));
	f = fresh();
	assert_int_equal(tsor_fd_install(5, f), 0);
	g = tsor_fd_get(5);
	assert_ptr_equal(g, f);
	assert_int_equal(atomic_load(&f->refs), 2);
	tsor_file_put(g);

	/* dup: two slots share it; the release waits for both and for calls. */
	tsor_file_get(f);
	assert_int_equal(tsor_fd_install(900000, f), 0);
	g = tsor_fd_get(900000);
	assert_true(tsor_fd_remove(5));
	assert_false(tsor_fd_remove(5));
	assert_true(tsor_fd_remove(900000));
	assert_int_equal(atomic_load(&released), 0); /* g is still in flight */
	tsor_file_put(g);
	assert_int_equal(atomic_load(&released), 1);

	/* Replacing a slot releases what was there. */
	assert_int_equal(tsor_fd_install(7, fresh()), 0);
	assert_int_equal(tsor_fd_install(7, fresh()), 0);
	assert_int_equal(atomic_load(&released), 2);
	assert_int_equal(tsor_fd_install(7, NULL), 0);
	assert_int_equal(atomic_load(&released), 3);
	assert_null(tsor_fd_get(7));

	/* Beyond 2^20: refused, and the caller's reference is not leaked. */
	assert_int_equal(tsor_fd_install(1 << 20, fresh()), -EMFILE);
	assert_int_equal(atomic_load(&released), 4);
	assert_int_equal(tsor_fd_install(-3, fresh()), -EBADF);
	assert_int_equal(atomic_load(&released), 5);
}

static _Atomic bool stop;
static _Atomic int installs;

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		for (int fd = 100; fd < 108; fd++) {
			struct tsor_file *f = tsor_fd_get(fd);

			if (f) {
				/* Alive while we hold it. */
				assert_int_equal(f->listener_id, 1);
				tsor_file_put(f);
			}
		}
	}
	return NULL;
}

static void test_race(void **state)
{
	pthread_t t[3];

	(void)state;
	tsor_fd_set_release(on_release);
	atomic_store(&released, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
	for (int i = 0; i < 200000; i++) {
		int fd = 100 + i % 8;

		if (i % 3 == 2)
			tsor_fd_remove(fd);
		else {
			assert_int_equal(tsor_fd_install(fd, fresh()), 0);
			atomic_fetch_add(&installs, 1);
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int fd = 100; fd < 108; fd++)
		tsor_fd_remove(fd);
	assert_int_equal(atomic_load(&released), atomic_load(&installs));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
