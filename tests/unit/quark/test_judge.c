// SPDX-License-Identifier: MIT
/*
 * Description: quark/qvisor/check: the verdict of `quark check` from a probe
 * report and the host's observations: a good run passes, each failure mode
 * (PVM's CPL-3 syscall handler, faults, triple fault, timeout, miscounts,
 * wrong selectors or MSRs) gets its own sentence, and hostile reports of
 * random bytes never crash it or yield more than one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "abi.h"
#include "check.h"

#define N 20000

static struct quark_probe_report good_report(void)
{
	struct quark_probe_report r;

	memset(&r, 0, sizeof(r));
	r.magic = QUARK_REPORT_MAGIC;
	r.phase = QUARK_PHASE_DONE;
	r.ring0_cs = QUARK_SEL_KCODE;
	r.syscalls = N;
	r.syscall_cs = QUARK_SEL_KCODE;
	r.user_cs = QUARK_SEL_UCODE | 3;
	r.user_status = QUARK_USER_OK;
	r.efer = 0xd01;
	r.star = QUARK_STAR_HIGH << 32;
	r.lstar = 0x1015e;
	r.sfmask = QUARK_SFMASK;
	return r;
}

static struct qv_check_obs obs_of(enum qv_check_stop stop)
{
	struct qv_check_obs o;

	memset(&o, 0, sizeof(o));
	o.stop = stop;
	o.pings = QV_CHECK_PINGS;
	o.loop_started = true;
	return o;
}

/* The verdict must be false with a reason containing `want`. */
static void expect_no(const struct quark_probe_report *r, const struct qv_check_obs *o,
		      const char *want)
{
	char reason[320] = "";

	assert_false(qv_check_judge(r, o, N, reason, sizeof(reason)));
	if (!strstr(reason, want))
		fail_msg("reason '%s' lacks '%s'", reason, want);
}

static void test_good(void **state)
{
	struct quark_probe_report r = good_report();
	struct qv_check_obs o = obs_of(QV_STOP_DONE);
	char reason[320] = "";

	(void)state;
	assert_true(qv_check_judge(&r, &o, N, reason, sizeof(reason)));
}

/* What the brief's PVM host does: LSTAR entered at CPL 3, which faults. */
static void test_pvm_cpl3_handler(void **state)
{
	struct quark_probe_report r = good_report();
	struct qv_check_obs o = obs_of(QV_STOP_FAULT);

	(void)state;
	r.phase = r.fault_phase = QUARK_PHASE_USER;
	r.syscalls = 0;
	r.fault_vector = 14; /* fetch from the supervisor page at CPL 3 */
	r.fault_error = 0x15;
	r.fault_rip = r.lstar;
	r.fault_cs = QUARK_SEL_UCODE | 3;
	r.syscall_cs = r.fault_cs;
	expect_no(&r, &o,
		  "the syscall handler ran at CPL 3 (this KVM emulates guest ring 0; "
		  "see docs/quark.md)");
	/* The same seen by the handler itself (a KVM that lets it fetch): ud2. */
	r.fault_vector = 6;
	r.syscall_cs = 0x33;
	expect_no(&r, &o, "the syscall handler ran at CPL 3");
}

static void test_other_faults(void **state)
{
	struct quark_probe_report r = good_report();
	struct qv_check_obs o = obs_of(QV_STOP_FAULT);

	(void)state;
	r.syscall_cs = 0;
	r.fault_vector = 13;
	r.fault_rip = 0x100a1;
	r.fault_cs = QUARK_SEL_KCODE;
	r.fault_phase = QUARK_PHASE_MSR;
	expect_no(&r, &o, "took #GP (error 0) at 0x100a1, cs 0x8, in the syscall MSR set-up");
	r.fault_vector = 6;
	r.fault_phase = QUARK_PHASE_USER;
	r.fault_cs = QUARK_SEL_UCODE | 3;
	expect_no(&r, &o, "took #UD");
	r.fault_vector = 14;
	expect_no(&r, &o, "(a page fault)");
	r.fault_vector = 0x1234;
	r.fault_phase = 99;
	expect_no(&r, &o, "took vector? (error 0) at 0x100a1, cs 0x2b, in an unknown phase");
}

static void test_stops(void **state)
{
	struct quark_probe_report r = good_report();
	struct qv_check_obs o;

	(void)state;
	r.phase = QUARK_PHASE_USER;
	o = obs_of(QV_STOP_SHUTDOWN);
	expect_no(&r, &o, "triple-faulted (KVM_EXIT_SHUTDOWN) in the ring-3 syscall loop");
	o = obs_of(QV_STOP_TIMEOUT);
	expect_no(&r, &o, "did not finish in time (it was in the ring-3 syscall loop)");
	o = obs_of(QV_STOP_NONE);
	expect_no(&r, &o, "did not run");
	o = obs_of(QV_STOP_HOST);
	expect_no(&r, &o, "the VMM stopped");
	o = obs_of(QV_STOP_DONE);
	o.hc_cpl = 3;
	expect_no(&r, &o, "a hypercall came from CPL 3");
}

static void test_done_but_wrong(void **state)
{
	const struct qv_check_obs o = obs_of(QV_STOP_DONE);
	struct quark_probe_report r;

	(void)state;
	r = good_report(), r.magic = 0;
	expect_no(&r, &o, "report is corrupt");
	r = good_report(), r.ring0_cs = 0x2b;
	expect_no(&r, &o, "entry code runs at CPL 3");
	r = good_report(), r.syscall_cs = 0x2b;
	expect_no(&r, &o, "the syscall handler ran at CPL 3");
	r = good_report(), r.user_cs = QUARK_SEL_KCODE;
	expect_no(&r, &o, "sysretq returned to CPL 0");
	r = good_report(), r.user_status = QUARK_USER_MISMATCH, r.syscalls = 7;
	expect_no(&r, &o, "out of step (the handler counted 7 of 20000)");
	r = good_report(), r.syscalls = N - 1;
	expect_no(&r, &o, "counted 19999 of 20000 syscalls");
	r = good_report(), r.syscalls = UINT64_MAX;
	expect_no(&r, &o, "counted 18446744073709551615 of 20000");
	r = good_report(), r.syscall_cs = QUARK_SEL_KDATA;
	expect_no(&r, &o, "used cs 0x10/0x2b");
	r = good_report(), r.efer = 0xd00;
	expect_no(&r, &o, "did not keep their values");
	r = good_report(), r.star = 0;
	expect_no(&r, &o, "did not keep their values");
	r = good_report(), r.sfmask = 0;
	expect_no(&r, &o, "did not keep their values");
}

/* Random bytes as a report, under every stop: one sane line, never a crash. */
static void test_hostile_reports(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1dULL;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		struct quark_probe_report r;
		struct qv_check_obs o;
		uint64_t *w = (uint64_t *)(void *)&r;
		char reason[320];
		bool ok;

		for (size_t k = 0; k < sizeof(r) / 8; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			w[k] = x;
		}
		/* Keep some fields plausible so the deeper checks are reached too. */
		if (i & 1) {
			struct quark_probe_report g = good_report();

			memcpy(w, &g, (x % (sizeof(r) / 8)) * 8);
		}
		o = obs_of((enum qv_check_stop)(x >> 60) % (QV_STOP_HOST + 2));
		o.hc_cpl = (x >> 58) & 1 ? 0 : (unsigned)(x >> 56) & 3;
		memset(reason, 'X', sizeof(reason));
		ok = qv_check_judge(&r, &o, N, reason, sizeof(reason));
		assert_non_null(memchr(reason, '\0', sizeof(reason)));
		if (ok) {
			assert_int_equal(o.stop, QV_STOP_DONE);
			assert_int_equal(r.syscalls, N);
			assert_int_equal(r.syscall_cs & 0xffff, QUARK_SEL_KCODE);
			continue;
		}
		assert_true(strlen(reason) > 10);
		assert_null(strchr(reason, '\n'));
	}
}

static void test_phase_names(void **state)
{
	(void)state;
	assert_string_equal(qv_check_phase_name(QUARK_PHASE_USER), "the ring-3 syscall loop");
	assert_string_equal(qv_check_phase_name(QUARK_PHASE_COUNT), "an unknown phase");
	assert_string_equal(qv_check_phase_name(UINT64_MAX), "an unknown phase");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),	       cmocka_unit_test(test_pvm_cpl3_handler),
		cmocka_unit_test(test_other_faults),   cmocka_unit_test(test_stops),
		cmocka_unit_test(test_done_but_wrong), cmocka_unit_test(test_hostile_reports),
		cmocka_unit_test(test_phase_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
