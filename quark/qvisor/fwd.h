/* SPDX-License-Identifier: MIT */
/*
 * QVisor's forwarded operations: the host side of QUARK_HC_CALL. QKernel
 * serves a program's system calls inside the VM and sends the few that need
 * the host (files, the terminal, randomness, sleeping) here, one struct
 * quark_hcall at a time. Everything the guest names (addresses, lengths,
 * handles, paths, flags) is hostile until checked; every path is resolved
 * inside the root. The confinement design is the essay at the top of fwd.c;
 * the operations and their arguments are quark/abi.h's QUARK_OP_*.
 *
 * Threading: a struct qv_fwd is used by one thread at a time (the vCPU loop
 * serialises its calls). Nothing here needs /dev/kvm, so all of it is
 * unit-tested and fuzzed without a VM.
 */
#ifndef QUARK_QVISOR_FWD_H
#define QUARK_QVISOR_FWD_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"

/* Guest memory as the host maps it: guest-physical 0..size at base. */
struct qv_gmem {
	unsigned char *base; /* host address of guest-physical 0 */
	uint64_t size;	     /* bytes of guest memory */
};

/*
 * The host address of guest-physical [gpa, gpa + len) if all of it lies
 * inside guest memory, else NULL. Overflow-safe for any gpa and len; len 0
 * is accepted when gpa <= size (an empty range at the very end included).
 */
void *qv_gmem_ptr(const struct qv_gmem *m, uint64_t gpa, uint64_t len);

struct qv_fwd;

/*
 * Opens the forwarding state for one guest: the root directory `rootfs`
 * (a host path; O_PATH, kept private, never a handle the guest can close),
 * the working directory `workdir` resolved INSIDE the root like any guest
 * path (NULL or "" means "/"), and handles 0, 1, 2 as duplicates of the
 * caller's stdin, stdout and stderr (/dev/null for any that is closed).
 * The root and the working directory also get handles of their own
 * (qv_fwd_root_handle(), qv_fwd_cwd_handle(), for struct quark_boot).
 * Needs /proc (the path of a directory handle is read from /proc/self/fd).
 * Sets the process's umask to 0: QKernel applies the program's umask
 * itself, so the modes it sends are final. Call before
 * qv_seccomp_lockdown(): it opens with plain open(2).
 * Returns 0, or -errno with one sentence in err naming the object:
 * "--rootfs /x: No such file or directory", "--workdir /nope: Not a directory".
 */
int qv_fwd_open(struct qv_fwd **out, const char *rootfs, const char *workdir, char *err,
		size_t errlen);

/* The handles of the root directory and of the initial working directory. */
uint32_t qv_fwd_root_handle(const struct qv_fwd *f);
uint32_t qv_fwd_cwd_handle(const struct qv_fwd *f);

/* Handles open now (0, 1, 2, root and cwd included until the guest closes them). */
unsigned qv_fwd_open_handles(const struct qv_fwd *f);

/*
 * Runs one forwarded operation: every QUARK_OP_* but QUARK_OP_EXIT, which
 * the vCPU loop handles (it, and any unknown op, answer -ENOSYS). `hc` is
 * the host's private copy of the guest's struct (copied out once); `m` is
 * the guest's memory, which the guest may change at any time, so anything
 * read from it that steers the host (segment arrays, paths) is copied out
 * once before it is checked and used. Returns what goes into hc->ret: >= 0,
 * or a negative Linux errno, as the system call would. Never touches memory
 * outside `m`, never hands the guest a host fd, never resolves a path
 * outside the root, never blocks longer than the operation itself does
 * (QUARK_OP_NANOSLEEP sleeps at most QV_FWD_MAX_SLEEP_NS per call).
 * Thread-safe: calls from several threads run one at a time, except that
 * sleeps run beside the others.
 */
int64_t qv_fwd_call(struct qv_fwd *f, const struct qv_gmem *m, const struct quark_hcall *hc);

/*
 * One second: a longer sleep returns 0 early and QKernel sleeps again for
 * the rest, so that a thread of QVisor asleep for the guest is never more
 * than a second away from noticing that the run is over (--timeout, exit).
 */
#define QV_FWD_MAX_SLEEP_NS  UINT64_C(1000000000)
#define QV_FWD_MAX_GETRANDOM UINT64_C(33554431) /* what Linux's getrandom(2) caps at */

/* For `quark run --stats`: per QUARK_OP_* (index = op; unknown ops under 0). */
struct qv_fwd_op_stats {
	uint64_t calls;	 /* qv_fwd_call()s with this op */
	uint64_t errors; /* ... that returned -errno */
	uint64_t bytes;	 /* bytes moved to or from guest memory by the successful ones */
};

/* Copies the counters out: out[QUARK_OP_COUNT]. */
void qv_fwd_stats(struct qv_fwd *f, struct qv_fwd_op_stats *out);

/* "openat", "readv", ... for an op; "unknown" outside 1..QUARK_OP_COUNT-1. */
const char *qv_fwd_op_name(uint32_t op);

/* Closes every handle (and the root); NULL is a no-op. */
void qv_fwd_close(struct qv_fwd *f);

#endif /* QUARK_QVISOR_FWD_H */
