// SPDX-License-Identifier: MIT
/*
 * `quark check` (see check.h): the VM is built step by step, each step
 * traced under --verbose, then the vCPU runs the probe under a wall-clock
 * limit. The run loop is a small state machine over the hypercalls the
 * probe must make, in order (RING0, PING..., LOOP, DONE, then hlt; FAULT at
 * any time); anything else the guest does, every other exit reason
 * included, stops the run with a sentence that says what happened.
 *
 * The limit: SIGALRM from setitimer() sets kvm_run.immediate_exit, so
 * KVM_RUN returns EINTR whether the signal lands while the guest runs or
 * just before the ioctl (the race KVM_CAP_IMMEDIATE_EXIT exists for). A
 * spinning guest therefore costs at most timeout_s of wall clock.
 */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>

#include "compiler.h"
#include "kvm.h"
#include "log.h"
#include "x86.h"

/* The probe image, linked in as bytes (quark/CMakeLists.txt, cmake/bin2c.cmake). */
extern const unsigned char quark_probe_image[];
extern const size_t quark_probe_image_len;

/* Where the hypercalls have got to (host side of the state machine). */
enum check_stage {
	STAGE_BOOT = 0, /* no hypercall yet */
	STAGE_RING0,	/* QUARK_HC_RING0 seen; pings allowed */
	STAGE_LOOP,	/* QUARK_HC_LOOP seen; the ring-3 loop runs */
	STAGE_DONE,	/* QUARK_HC_DONE seen; only hlt may follow */
};

struct qv_check {
	const struct qv_check_opts *opts; /* the caller's, alive until qv_check_finish() */
	struct qv_check_result *res;	  /* the caller's; reason doubles as the error buffer */
	struct qv_kvm kvm;		  /* device, VM, vCPU, guest memory */
	struct qv_check_obs obs;	  /* what the host saw, for the verdict */
	enum check_stage stage;		  /* the hypercall state machine */
	double t_open;			  /* ns, CLOCK_MONOTONIC, before open() of the device */
	double t_first_ping;		  /* ns at the first QUARK_HC_PING exit */
	double t_last_ping;		  /* ns at the last one */
	double t_loop;			  /* ns at QUARK_HC_LOOP */
	double t_done;			  /* ns at QUARK_HC_DONE */
	double t_run;			  /* ns before the first KVM_RUN */
	double t_trace; /* ns spent writing --verbose lines, kept out of the timings */
};

/* Read by the SIGALRM handler: the run structure to stop, and whether it fired. */
static struct kvm_run *volatile alarm_run;
static volatile sig_atomic_t alarm_fired;

static void on_alarm(int sig)
{
	struct kvm_run *run = alarm_run;

	(void)sig;
	alarm_fired = 1;
	if (run)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELAXED);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void trace(struct qv_check *c, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void trace(struct qv_check *c, const char *fmt, ...)
{
	char buf[512];
	double t0;
	va_list ap;

	if (!c->opts->verbose)
		return;
	t0 = now_ns();
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Milliseconds since the device was opened, less the tracing itself. */
	fprintf(stderr, "quark check: [%8.3f ms] %s\n",
		c->t_open > 0 ? (t0 - c->t_open - c->t_trace) / 1e6 : 0.0, buf);
	c->t_trace += now_ns() - t0;
}

/* Stops the run for a reason the host found (the run loop ends at the first). */
static void stop_host(struct qv_check *c, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void stop_host(struct qv_check *c, const char *fmt, ...)
{
	va_list ap;

	c->obs.stop = QV_STOP_HOST;
	va_start(ap, fmt);
	errbuf_vset(c->res->reason, sizeof(c->res->reason), fmt, ap);
	va_end(ap);
}

const char *qv_check_phase_name(uint64_t phase)
{
	static const char *const names[] = {
		[QUARK_PHASE_NONE] = "the first instruction",
		[QUARK_PHASE_RING0] = "the ring-0 entry",
		[QUARK_PHASE_PING] = "the hypercall round trips",
		[QUARK_PHASE_MSR] = "the syscall MSR set-up",
		[QUARK_PHASE_USER] = "the ring-3 syscall loop",
		[QUARK_PHASE_DONE] = "the final report",
	};

	_Static_assert(sizeof(names) / sizeof(names[0]) == QUARK_PHASE_COUNT, "a name per phase");
	return phase < QUARK_PHASE_COUNT ? names[phase] : "an unknown phase";
}

static const char *hc_name(uint64_t port)
{
	switch (port) {
	case QUARK_HC_RING0:
		return "RING0";
	case QUARK_HC_PING:
		return "PING";
	case QUARK_HC_LOOP:
		return "LOOP";
	case QUARK_HC_DONE:
		return "DONE";
	case QUARK_HC_FAULT:
		return "FAULT";
	default:
		return "unknown";
	}
}

/* A clock that stops while --verbose lines are written (they go to slow consoles). */
static double vclock_ns(const struct qv_check *c)
{
	return now_ns() - c->t_trace;
}

/* Milliseconds of vclock_ns() since *t; *t moves to now. */
static double lap_ms(const struct qv_check *c, double *t)
{
	double now = vclock_ns(c), ms = (now - *t) / 1e6;

	*t = now;
	return ms;
}

/* Builds the VM, its memory and its vCPU, ready to run the probe. */
static int setup(struct qv_check *c)
{
	struct qv_kvm_cap caps[16];
	struct quark_image_header hdr;
	struct quark_probe_params params;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	char *err = c->res->reason;
	const size_t errlen = sizeof(c->res->reason);
	unsigned cpuid_entries = 0;
	size_t ncaps;
	double t;
	int rc;

	/* The image first: a broken build must not look like a broken host. */
	rc = qv_x86_check_image(quark_probe_image, quark_probe_image_len, &hdr, err, errlen);
	if (rc < 0)
		return rc;

	c->t_open = now_ns();
	t = c->t_open;
	rc = qv_kvm_open(&c->kvm, c->opts->device, err, errlen);
	if (rc < 0)
		return rc;
	c->res->open_ms = lap_ms(c, &t);
	trace(c, "%s: opened; KVM API version %d", c->opts->device, c->kvm.api_version);

	ncaps = qv_kvm_default_caps(caps, ARRAY_SIZE(caps));
	if (ncaps > ARRAY_SIZE(caps))
		ncaps = ARRAY_SIZE(caps);
	rc = qv_kvm_probe_caps(&c->kvm, caps, ncaps, err, errlen);
	c->res->caps_ms = lap_ms(c, &t);
	for (size_t i = 0; i < ncaps; i++)
		trace(c, "capability %-18s = %-5d%s (%s)", caps[i].name, caps[i].value,
		      caps[i].min ? " required" : "", caps[i].why);
	if (rc < 0)
		return rc;

	t = vclock_ns(c);
	rc = qv_kvm_create_vm(&c->kvm, QUARK_MEM_SIZE, err, errlen);
	if (rc < 0)
		return rc;
	c->res->vm_ms = lap_ms(c, &t);
	trace(c, "VM created; %llu KiB of guest memory in slot 0 at guest-physical 0",
	      QUARK_MEM_SIZE / 1024);

	t = vclock_ns(c);
	rc = qv_kvm_create_vcpu(&c->kvm, &cpuid_entries, err, errlen);
	if (rc < 0)
		return rc;
	c->res->vcpu_ms = lap_ms(c, &t);
	trace(c, "vCPU 0 created; kvm_run is %zu bytes; %u CPUID leaves set", c->kvm.run_size,
	      cpuid_entries);

	t = vclock_ns(c);
	rc = qv_x86_build(c->kvm.mem, c->kvm.mem_size, quark_probe_image, quark_probe_image_len,
			  &hdr);
	if (rc < 0) {
		errbuf_set(err, errlen, "guest memory layout: %s", log_errstr(rc));
		return rc;
	}
	params.iterations = c->opts->iterations;
	params.pings = QV_CHECK_PINGS;
	memcpy((unsigned char *)c->kvm.mem + QUARK_PARAMS_GPA, &params, sizeof(params));
	c->res->layout_ms = lap_ms(c, &t);
	trace(c,
	      "guest memory: identity page tables, GDT, TSS, IDT; probe image of %zu bytes at "
	      "%#llx, entry %#llx, ring-3 pages %#llx..%#llx",
	      quark_probe_image_len, QUARK_IMAGE_GPA, (unsigned long long)hdr.entry,
	      (unsigned long long)hdr.user_start, (unsigned long long)hdr.user_end);

	if (ioctl(c->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_GET_SREGS: %s", log_errstr(rc));
		return rc;
	}
	t = vclock_ns(c);
	qv_x86_long_mode_sregs(&sregs);
	if (ioctl(c->kvm.vcpu_fd, KVM_SET_SREGS, &sregs) == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_SET_SREGS (64-bit long mode): %s", log_errstr(rc));
		return rc;
	}
	qv_x86_entry_regs(&regs, &hdr);
	if (ioctl(c->kvm.vcpu_fd, KVM_SET_REGS, &regs) == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_SET_REGS: %s", log_errstr(rc));
		return rc;
	}
	c->res->layout_ms += lap_ms(c, &t);
	trace(c, "vCPU in 64-bit ring 0: CR0 %#llx CR4 %#llx EFER %#llx CR3 %#llx, rip %#llx",
	      (unsigned long long)sregs.cr0, (unsigned long long)sregs.cr4,
	      (unsigned long long)sregs.efer, (unsigned long long)sregs.cr3,
	      (unsigned long long)regs.rip);
	return 0;
}

/* The CPL of the vCPU as KVM sees it: CS.DPL, SS.DPL and CS.RPL must all be 0 in ring 0. */
static int vcpu_cpl(struct qv_check *c, unsigned *cpl, uint64_t *cs)
{
	struct kvm_sregs s;
	unsigned v;

	if (ioctl(c->kvm.vcpu_fd, KVM_GET_SREGS, &s) == -1)
		return -errno;
	v = s.cs.dpl;
	if (s.ss.dpl > v)
		v = s.ss.dpl;
	if ((s.cs.selector & 3u) > v)
		v = s.cs.selector & 3u;
	*cpl = v;
	*cs = s.cs.selector;
	return 0;
}

/* One KVM_EXIT_IO. Returns true when the run is over. */
static bool handle_io(struct qv_check *c)
{
	const struct kvm_run *run = c->kvm.run;
	const uint64_t port = run->io.port;
	double t = now_ns();
	unsigned cpl = 0;
	uint64_t cs = 0;
	int rc;

	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 || run->io.count != 1 ||
	    port < QUARK_HC_FIRST || port > QUARK_HC_LAST) {
		stop_host(c,
			  "the probe guest accessed I/O port %#llx (%s, %u bytes x %u), "
			  "which is no hypercall",
			  (unsigned long long)port,
			  run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			  (unsigned)run->io.size, (unsigned)run->io.count);
		return true;
	}
	rc = vcpu_cpl(c, &cpl, &cs);
	if (rc < 0) {
		stop_host(c, "KVM_GET_SREGS: %s", log_errstr(rc));
		return true;
	}
	if (cpl > c->obs.hc_cpl) {
		c->obs.hc_cpl = cpl;
		c->obs.hc_cs = cs;
	}
	if (cpl != 0) {
		stop_host(c,
			  "hypercall %s came from CPL %u (cs %#llx): the guest's ring-0 code does "
			  "not run in ring 0",
			  hc_name(port), cpl, (unsigned long long)cs);
		return true;
	}

	switch (port) {
	case QUARK_HC_RING0:
		if (c->stage != STAGE_BOOT)
			break;
		c->stage = STAGE_RING0;
		c->res->first_exit_ms = (t - c->t_open - c->t_trace) / 1e6;
		c->res->first_run_ms = (t - c->t_trace - c->t_run) / 1e6;
		trace(c, "hypercall RING0 from CPL 0 (cs %#llx), %.2f ms after opening the device",
		      (unsigned long long)cs, c->res->first_exit_ms);
		return false;
	case QUARK_HC_PING:
		if (c->stage != STAGE_RING0 || c->obs.pings >= QV_CHECK_PINGS)
			break;
		if (c->obs.pings++ == 0)
			c->t_first_ping = t;
		c->t_last_ping = t;
		return false;
	case QUARK_HC_LOOP:
		if (c->stage != STAGE_RING0)
			break;
		c->stage = STAGE_LOOP;
		c->obs.loop_started = true;
		trace(c,
		      "hypercall LOOP after %llu timed round trips: syscall MSRs set, entering "
		      "ring 3",
		      (unsigned long long)c->obs.pings);
		c->t_loop = now_ns(); /* after the trace: the loop's time is the guest's alone */
		return false;
	case QUARK_HC_DONE:
		if (c->stage != STAGE_LOOP)
			break;
		c->stage = STAGE_DONE;
		c->t_done = t;
		trace(c, "hypercall DONE: the ring-3 loop is over");
		return false;
	case QUARK_HC_FAULT:
		c->obs.stop = QV_STOP_FAULT;
		trace(c, "hypercall FAULT: the guest took an exception");
		return true;
	default:
		break;
	}
	stop_host(c, "the probe guest made hypercall %s out of order", hc_name(port));
	return true;
}

static const char *internal_error_name(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected exit reason";
	default:
		return "unknown suberror";
	}
}

/* One exit other than I/O. Returns true when the run is over. */
static bool handle_exit(struct qv_check *c)
{
	const struct kvm_run *run = c->kvm.run;
	const unsigned reason = run->exit_reason;

	switch (reason) {
	case KVM_EXIT_IO:
		return handle_io(c);
	case KVM_EXIT_INTR:
		return false; /* a signal; the loop looks at the alarm */
	case KVM_EXIT_HLT:
		if (c->stage == STAGE_DONE) {
			c->obs.stop = QV_STOP_DONE;
			trace(c, "KVM_EXIT_HLT: the guest halted after its report");
			return true;
		}
		stop_host(c, "the probe guest halted before it reported (KVM_EXIT_HLT)");
		return true;
	case KVM_EXIT_SHUTDOWN:
		c->obs.stop = QV_STOP_SHUTDOWN;
		return true;
	case KVM_EXIT_FAIL_ENTRY:
		stop_host(c,
			  "KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, hardware reason "
			  "%#llx): it refused the long-mode state",
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		stop_host(c, "KVM internal error %u (%s)%s", (unsigned)run->internal.suberror,
			  internal_error_name(run->internal.suberror),
			  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				  ? ": KVM could not emulate a guest instruction"
				  : "");
		return true;
	case KVM_EXIT_MMIO:
		stop_host(c,
			  "the probe guest touched guest-physical %#llx, which has no memory "
			  "(KVM_EXIT_MMIO)",
			  (unsigned long long)run->mmio.phys_addr);
		return true;
	case KVM_EXIT_UNKNOWN:
		stop_host(c, "KVM_EXIT_UNKNOWN (hardware exit reason %#llx)",
			  (unsigned long long)run->hw.hardware_exit_reason);
		return true;
	default:
		stop_host(c, "unexpected exit %s (%u)", qv_kvm_exit_name(reason), reason);
		return true;
	}
}

/* Runs the vCPU until the state machine or the alarm ends it. */
static int run_guest(struct qv_check *c)
{
	struct sigaction sa, old_sa;
	struct itimerval limit, off;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigemptyset(&sa.sa_mask);
	alarm_fired = 0;
	alarm_run = c->kvm.run;
	if (sigaction(SIGALRM, &sa, &old_sa) == -1) {
		rc = -errno;
		errbuf_set(c->res->reason, sizeof(c->res->reason), "sigaction: %s", log_errstr(rc));
		goto out_clear;
	}
	memset(&limit, 0, sizeof(limit));
	memset(&off, 0, sizeof(off));
	limit.it_value.tv_sec = c->opts->timeout_s;
	if (setitimer(ITIMER_REAL, &limit, NULL) == -1) {
		rc = -errno;
		errbuf_set(c->res->reason, sizeof(c->res->reason), "setitimer: %s", log_errstr(rc));
		goto out_restore;
	}

	c->t_run = vclock_ns(c);
	while (c->obs.stop == QV_STOP_NONE) {
		if (alarm_fired) {
			c->obs.stop = QV_STOP_TIMEOUT;
			break;
		}
		if (ioctl(c->kvm.vcpu_fd, KVM_RUN, 0) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			stop_host(c, "KVM_RUN: %s", log_errstr(errno));
			break;
		}
		c->res->exits++;
		if (handle_exit(c))
			break;
	}
	trace(c, "stopped after %llu exits", (unsigned long long)c->res->exits);

	setitimer(ITIMER_REAL, &off, NULL);
out_restore:
	sigaction(SIGALRM, &old_sa, NULL);
out_clear:
	alarm_run = NULL;
	return rc;
}

/* Formats a guest-reported RPL-carrying selector: only its low 16 bits mean anything. */
static unsigned sel(uint64_t v)
{
	return (unsigned)(v & 0xffff);
}

bool qv_check_judge(const struct quark_probe_report *rep, const struct qv_check_obs *obs,
		    uint64_t iterations, char *reason, size_t len)
{
	if (len)
		reason[0] = '\0';
	if (obs->hc_cpl != 0) {
		errbuf_set(reason, len,
			   "a hypercall came from CPL %u: the guest's ring-0 code does "
			   "not run in ring 0",
			   obs->hc_cpl & 3);
		return false;
	}
	switch (obs->stop) {
	case QV_STOP_TIMEOUT:
		errbuf_set(reason, len, "the probe guest did not finish in time (it was in %s)",
			   qv_check_phase_name(rep->phase));
		return false;
	case QV_STOP_SHUTDOWN:
		errbuf_set(reason, len, "the probe guest triple-faulted (KVM_EXIT_SHUTDOWN) in %s",
			   qv_check_phase_name(rep->phase));
		return false;
	case QV_STOP_FAULT:
		if (sel(rep->syscall_cs) & 3) {
			errbuf_set(reason, len,
				   "the syscall handler ran at CPL %u (this KVM emulates "
				   "guest ring 0; see docs/quark.md)",
				   sel(rep->syscall_cs) & 3);
			return false;
		}
		errbuf_set(reason, len,
			   "the probe guest took %s (error %#llx) at %#llx, cs %#x, "
			   "in %s%s",
			   qv_x86_vector_name(rep->fault_vector),
			   (unsigned long long)rep->fault_error, (unsigned long long)rep->fault_rip,
			   sel(rep->fault_cs), qv_check_phase_name(rep->fault_phase),
			   rep->fault_vector == 14 ? " (a page fault)" : "");
		return false;
	case QV_STOP_DONE:
		break;
	case QV_STOP_HOST:
		errbuf_set(reason, len, "the VMM stopped the probe guest");
		return false;
	case QV_STOP_NONE:
	default:
		errbuf_set(reason, len, "the probe guest did not run");
		return false;
	}

	if (rep->magic != QUARK_REPORT_MAGIC) {
		errbuf_set(reason, len, "the probe guest's report is corrupt (magic %#llx)",
			   (unsigned long long)rep->magic);
		return false;
	}
	if (sel(rep->ring0_cs) & 3) {
		errbuf_set(reason, len, "the guest's entry code runs at CPL %u, not ring 0",
			   sel(rep->ring0_cs) & 3);
		return false;
	}
	if (sel(rep->syscall_cs) & 3) {
		errbuf_set(reason, len,
			   "the syscall handler ran at CPL %u (this KVM emulates guest "
			   "ring 0; see docs/quark.md)",
			   sel(rep->syscall_cs) & 3);
		return false;
	}
	if ((sel(rep->user_cs) & 3) != 3) {
		errbuf_set(reason, len, "sysretq returned to CPL %u, not ring 3",
			   sel(rep->user_cs) & 3);
		return false;
	}
	if (rep->user_status != QUARK_USER_OK) {
		errbuf_set(reason, len,
			   "a syscall returned a count out of step (the handler "
			   "counted %llu of %llu)",
			   (unsigned long long)rep->syscalls, (unsigned long long)iterations);
		return false;
	}
	if (rep->syscalls != iterations) {
		errbuf_set(reason, len, "the syscall handler counted %llu of %llu syscalls",
			   (unsigned long long)rep->syscalls, (unsigned long long)iterations);
		return false;
	}
	if (sel(rep->syscall_cs) != QUARK_SEL_KCODE || sel(rep->user_cs) != (QUARK_SEL_UCODE | 3)) {
		errbuf_set(reason, len, "syscall/sysretq used cs %#x/%#x, not STAR's %#llx/%#llx",
			   sel(rep->syscall_cs), sel(rep->user_cs), QUARK_SEL_KCODE,
			   QUARK_SEL_UCODE | 3);
		return false;
	}
	if (!(rep->efer & QV_EFER_SCE) || rep->star != QUARK_STAR_HIGH << 32 ||
	    rep->sfmask != QUARK_SFMASK) {
		errbuf_set(reason, len,
			   "the syscall MSRs did not keep their values (EFER %#llx, "
			   "STAR %#llx, SFMASK %#llx)",
			   (unsigned long long)rep->efer, (unsigned long long)rep->star,
			   (unsigned long long)rep->sfmask);
		return false;
	}
	return true;
}

int qv_check_prepare(const struct qv_check_opts *opts, struct qv_check_result *res,
		     struct qv_check **out)
{
	struct qv_check *c;
	int rc;

	memset(res, 0, sizeof(*res));
	res->iterations = opts->iterations;
	c = calloc(1, sizeof(*c));
	if (!c) {
		errbuf_set(res->reason, sizeof(res->reason), "%s", log_errstr(ENOMEM));
		return -ENOMEM;
	}
	c->opts = opts;
	c->res = res;
	qv_kvm_init(&c->kvm);
	rc = setup(c);
	if (rc < 0) {
		qv_kvm_close(&c->kvm);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void *qv_check_guest_memory(struct qv_check *c, size_t *size)
{
	*size = c->kvm.mem_size;
	return c->kvm.mem;
}

int qv_check_finish(struct qv_check *c)
{
	struct qv_check_result *res = c->res;
	const struct qv_check_opts *opts = c->opts;
	struct quark_probe_report rep;
	int rc;

	rc = run_guest(c);
	if (rc < 0)
		goto out_free;

	/* One copy out of guest memory; only the copy is looked at. */
	memcpy(&rep, (const unsigned char *)c->kvm.mem + QUARK_REPORT_GPA, sizeof(rep));
	c->obs.last_phase = rep.phase;
	trace(c,
	      "report: phase %s; cs ring 0 %#llx, syscall handler %#llx, ring 3 %#llx; "
	      "%llu syscalls; EFER %#llx STAR %#llx LSTAR %#llx SFMASK %#llx",
	      qv_check_phase_name(rep.phase), (unsigned long long)rep.ring0_cs,
	      (unsigned long long)rep.syscall_cs, (unsigned long long)rep.user_cs,
	      (unsigned long long)rep.syscalls, (unsigned long long)rep.efer,
	      (unsigned long long)rep.star, (unsigned long long)rep.lstar,
	      (unsigned long long)rep.sfmask);
	if (c->obs.stop == QV_STOP_FAULT)
		trace(c,
		      "fault: %s error %#llx rip %#llx cs %#llx rflags %#llx rsp %#llx ss %#llx "
		      "cr2 %#llx in %s",
		      qv_x86_vector_name(rep.fault_vector), (unsigned long long)rep.fault_error,
		      (unsigned long long)rep.fault_rip, (unsigned long long)rep.fault_cs,
		      (unsigned long long)rep.fault_rflags, (unsigned long long)rep.fault_rsp,
		      (unsigned long long)rep.fault_ss, (unsigned long long)rep.fault_cr2,
		      qv_check_phase_name(rep.fault_phase));
	if (c->obs.pings >= 2)
		res->hypercall_ns = (c->t_last_ping - c->t_first_ping) / (double)(c->obs.pings - 1);

	/* A host stop already wrote its reason; the judge must not replace it. */
	if (c->obs.stop == QV_STOP_HOST)
		res->ok = false;
	else
		res->ok = qv_check_judge(&rep, &c->obs, opts->iterations, res->reason,
					 sizeof(res->reason));
	if (res->ok) {
		/* The interval spans one VM entry and one exit: take one round trip off. */
		double loop = c->t_done - c->t_loop - res->hypercall_ns;

		res->syscall_ns = (loop > 0 ? loop : 0) / (double)opts->iterations;
	}
	rc = 0;

out_free:
	qv_kvm_close(&c->kvm);
	free(c);
	return rc;
}

int qv_check_run(const struct qv_check_opts *opts, struct qv_check_result *res)
{
	struct qv_check *c;
	int rc;

	rc = qv_check_prepare(opts, res, &c);
	if (rc < 0)
		return rc;
	return qv_check_finish(c);
}
