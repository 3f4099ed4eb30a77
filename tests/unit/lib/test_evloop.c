// SPDX-License-Identifier: MIT
/*
 * Description: lib/evloop: the timer heap fires in deadline order under
 * random arm / re-arm / cancel sequences (checked against a brute-force
 * model), a timer armed in the past fires on the next turn, readiness on
 * a real pipe reaches the callback, edge-triggered (once per edge), and the
 * before_dispatch hook runs once per wait, ahead of that round's callbacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "evloop.h"
#include "hash.h"

#define NT 500

struct tt {
	struct ev_timer t;
	uint64_t want; /* 0 = not armed in the model */
	int fired;
};

static uint64_t last_fired;
static int order_ok = 1;

static void on_t(struct ev_loop *loop, struct ev_timer *t)
{
	struct tt *x = container_of(t, struct tt, t);

	(void)loop;
	if (x->want == 0 || t->when < last_fired)
		order_ok = 0;
	last_fired = t->when;
	x->want = 0;
	x->fired++;
}

static void test_timers(void **state)
{
	static struct tt ts[NT];
	struct ev_loop loop;
	struct rng r;
	size_t i, armed = 0;

	(void)state;
	rng_seed(&r, 42);
	assert_int_equal(ev_loop_init(&loop), 0);
	for (i = 0; i < NT; i++)
		ev_timer_init(&ts[i].t, on_t);
	for (i = 0; i < 20000; i++) {
		struct tt *x = &ts[rng_below(&r, NT)];
		uint64_t when = loop.now + 1000000 + rng_below(&r, 1000000);

		if (rng_below(&r, 3) == 0) {
			ev_timer_cancel(&loop, &x->t);
			x->want = 0;
		} else {
			assert_int_equal(ev_timer_arm(&loop, &x->t, when), 0);
			x->want = when;
		}
		assert_int_equal(ev_timer_armed(&x->t), x->want != 0);
	}
	for (i = 0; i < NT; i++)
		armed += ts[i].want != 0;
	assert_int_equal(loop.ntimers, armed);
	/* Jump the clock: every armed timer fires, in order, exactly once. */
	loop.now += 3000000;
	last_fired = 0;
	while (loop.ntimers) {
		struct ev_timer *t = loop.heap[0];

		ev_timer_cancel(&loop, t);
		t->cb(&loop, t);
	}
	assert_true(order_ok);
	for (i = 0; i < NT; i++)
		assert_int_equal(ts[i].want, 0);
	ev_loop_fini(&loop);
}

static int io_calls;

static void on_io(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	(void)loop;
	(void)io;
	if (ev & EPOLLIN)
		io_calls++;
}

static void on_past(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	io_calls += 100;
}

static void test_io(void **state)
{
	struct ev_loop loop;
	struct ev_io io;
	struct ev_timer past;
	int p[2];

	(void)state;
	assert_int_equal(ev_loop_init(&loop), 0);
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(ev_io_add(&loop, &io, p[0], EPOLLIN | EPOLLET, on_io), 0);
	assert_int_equal(ev_run_once(&loop, 0), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(ev_run_once(&loop, 1000), 1);
	assert_int_equal(io_calls, 1);
	/* Edge-triggered: the unread byte does not report again. */
	assert_int_equal(ev_run_once(&loop, 0), 0);
	ev_timer_init(&past, on_past);
	assert_int_equal(ev_timer_arm(&loop, &past, loop.now - 5), 0);
	assert_int_equal(ev_run_once(&loop, -1), 1);
	assert_int_equal(io_calls, 101);
	assert_int_equal(ev_io_del(&loop, &io), 0);
	close(p[0]);
	close(p[1]);
	ev_loop_fini(&loop);
}

static int hook_calls, hook_seen_by_io = -1, after_calls, after_seen_by_io = -1,
		       after_seen_by_timer = -1;

static void on_hook(struct ev_loop *loop)
{
	(void)loop;
	hook_calls++;
}

static void on_after(struct ev_loop *loop)
{
	(void)loop;
	after_calls++;
}

static void on_timer_after_hook(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	after_seen_by_timer = after_calls;
}

static void on_io_after_hook(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	(void)loop;
	(void)io;
	(void)ev;
	hook_seen_by_io = hook_calls;
	after_seen_by_io = after_calls;
}

static void test_hook(void **state)
{
	struct ev_loop loop;
	struct ev_io io;
	struct ev_timer t;
	int p[2];

	(void)state;
	assert_int_equal(ev_loop_init(&loop), 0);
	assert_null(loop.before_dispatch);
	assert_null(loop.after_dispatch);
	loop.before_dispatch = on_hook;
	loop.after_dispatch = on_after;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(ev_io_add(&loop, &io, p[0], EPOLLIN | EPOLLET, on_io_after_hook), 0);
	/* A round with nothing ready still runs the hook (a wait ended). */
	assert_int_equal(ev_run_once(&loop, 0), 0);
	assert_int_equal(hook_calls, 1);
	assert_int_equal(after_calls, 1);
	assert_int_equal(hook_seen_by_io, -1);
	assert_int_equal(write(p[1], "x", 1), 1);
	ev_timer_init(&t, on_timer_after_hook);
	assert_int_equal(ev_timer_arm(&loop, &t, ev_now(&loop)), 0);
	assert_int_equal(ev_run_once(&loop, 1000), 2);
	/*
	 * The callback of the second round saw the second round's before hook
	 * and not yet its after hook; the round's timer saw both.
	 */
	assert_int_equal(hook_calls, 2);
	assert_int_equal(hook_seen_by_io, 2);
	assert_int_equal(after_seen_by_io, 1);
	assert_int_equal(after_calls, 2);
	assert_int_equal(after_seen_by_timer, 2);
	close(p[0]);
	close(p[1]);
	ev_loop_fini(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
