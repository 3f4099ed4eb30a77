/* SPDX-License-Identifier: MIT */
/*
 * `quark check`: can this host's KVM run Quark? It builds a VM from nothing
 * (quark/qvisor/kvm.c, x86.c), runs the probe guest (quark/qkernel/probe.S)
 * and turns what the guest reported, and what the host saw, into a verdict
 * with one sentence of reason. The stages and the trust rules are in
 * quark/abi.h; the design and the measured numbers in docs/quark.md.
 */
#ifndef QUARK_QVISOR_CHECK_H
#define QUARK_QVISOR_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#define QV_CHECK_DEFAULT_ITERATIONS 20000
#define QV_CHECK_DEFAULT_TIMEOUT_S  30
#define QV_CHECK_MAX_TIMEOUT_S	    3600
#define QV_CHECK_PINGS		    100

struct qv_check_opts {
	const char *device;  /* normally "/dev/kvm" */
	uint64_t iterations; /* ring-3 syscalls, 1..QUARK_PROBE_MAX_ITERATIONS */
	unsigned timeout_s;  /* wall-clock limit on the guest, 1..QV_CHECK_MAX_TIMEOUT_S */
	bool verbose;	     /* print each step and capability to stderr */
};

/* How the probe run ended, as the host saw it. */
enum qv_check_stop {
	QV_STOP_NONE = 0, /* still running (never in a finished run) */
	QV_STOP_DONE,	  /* QUARK_HC_DONE: the report is complete */
	QV_STOP_FAULT,	  /* QUARK_HC_FAULT: the guest took an exception */
	QV_STOP_SHUTDOWN, /* KVM_EXIT_SHUTDOWN: a triple fault */
	QV_STOP_TIMEOUT,  /* the wall-clock limit passed */
	QV_STOP_HOST,	  /* the host stopped it; the reason is already written */
};

/* The host's own observations of a run, beside the guest's report. */
struct qv_check_obs {
	enum qv_check_stop stop;
	unsigned hc_cpl;     /* highest CPL any hypercall came from (KVM's view) */
	uint64_t hc_cs;	     /* %cs of the hypercall with that CPL */
	uint64_t pings;	     /* QUARK_HC_PING hypercalls seen */
	bool loop_started;   /* QUARK_HC_LOOP seen */
	uint64_t last_phase; /* phase word in the report when the run stopped (unchecked) */
};

struct qv_check_result {
	bool ok;	      /* the verdict */
	char reason[320];     /* why not (when !ok), one line without the prefix */
	uint64_t iterations;  /* syscalls timed */
	double syscall_ns;    /* ring 3 -> ring 0 -> ring 3, per round trip (when ok) */
	double hypercall_ns;  /* ring-0 `out` -> VMM -> KVM_RUN, per round trip (0 if unmeasured) */
	double first_exit_ms; /* open() of the device to the first hypercall (0 if none) */
	double open_ms;	      /* start-up, step by step, without the --verbose output: */
	double caps_ms;	      /* ... KVM_GET_API_VERSION and KVM_CHECK_EXTENSION */
	double vm_ms;	      /* ... KVM_CREATE_VM, mmap, KVM_SET_USER_MEMORY_REGION */
	double vcpu_ms;	      /* ... KVM_CREATE_VCPU, kvm_run, KVM_SET_CPUID2 */
	double layout_ms;     /* ... page tables, descriptors, image, KVM_SET_SREGS/REGS */
	double first_run_ms;  /* ... first KVM_RUN to the first hypercall exit */
	uint64_t exits;	      /* KVM_RUN returns */
};

/*
 * Runs the whole check. Returns 0 when it reached a verdict (res->ok says
 * which), or a negative errno when it could not even get that far (the
 * device is missing, a capability lacks, an ioctl failed); res->reason says
 * why in both cases, and res->ok is false.
 */
int qv_check_run(const struct qv_check_opts *opts, struct qv_check_result *res);

/*
 * qv_check_run() in two halves, for tests that change the guest in between
 * (tests/quark/test_probe_faults.c turns the probe into a hostile guest).
 * prepare builds the VM up to the first KVM_RUN; on success *out owns it,
 * and opts and res must live until finish, which runs the guest, judges,
 * tears down and frees *out. Returns as qv_check_run() does.
 */
struct qv_check;
int qv_check_prepare(const struct qv_check_opts *opts, struct qv_check_result *res,
		     struct qv_check **out);
int qv_check_finish(struct qv_check *c);

/* The prepared VM's guest memory (QUARK_MEM_SIZE bytes at guest-physical 0). */
void *qv_check_guest_memory(struct qv_check *c, size_t *size);

/*
 * The verdict from a report copied out of guest memory and the host's
 * observations: true for "ok" (reason set to ""); otherwise false with the
 * reason in reason[0..len). Every report field is range-checked before it selects a
 * message or is printed, so any bytes at all give a sane sentence.
 */
bool qv_check_judge(const struct quark_probe_report *rep, const struct qv_check_obs *obs,
		    uint64_t iterations, char *reason, size_t len);

/* "the ring-3 syscall loop" for QUARK_PHASE_USER; "an unknown phase" for garbage. */
const char *qv_check_phase_name(uint64_t phase);

#endif /* QUARK_QVISOR_CHECK_H */
