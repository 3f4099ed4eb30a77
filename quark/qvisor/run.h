/* SPDX-License-Identifier: MIT */
/*
 * `quark run`: one program in a fresh VM. QVisor builds the machine (the
 * kernel window's page tables, the boot page, the argument blob, QKernel's
 * image), confines itself with seccomp, and then only runs the vCPU and
 * serves QKernel's hypercalls (fwd.c) until the program exits. The ABI is
 * quark/abi.h's `quark run` section; the design is in docs/quark.md.
 */
#ifndef QUARK_QVISOR_RUN_H
#define QUARK_QVISOR_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of quark itself, as container runtimes and shells use them. */
#define QV_EXIT_RUNTIME	 125 /* quark could not run the program */
#define QV_EXIT_NOEXEC	 126 /* found but not executable */
#define QV_EXIT_NOTFOUND 127 /* not found */

struct qv_run_opts {
	const char *device;  /* normally "/dev/kvm" */
	const char *rootfs;  /* the program's "/" on the host */
	const char *workdir; /* inside the root */
	uint64_t mem_size;   /* guest memory, QUARK_RUN_MEM_MIN..MAX, a multiple of 2 MiB */
	unsigned cpus;	     /* vCPUs, 1..QUARK_MAX_CPUS: at most this many program threads */
	char *const *argv;   /* the program and its arguments, argc >= 1 */
	int argc;
	const char *const *envp; /* K=V, as the program will see them */
	int envc;
	unsigned timeout_s; /* 0 = none */
	bool stats;	    /* print the counters to stderr at exit */
	bool verbose;	    /* each step to stderr, and QKernel's diagnostics */
	int queue;	    /* forwarded calls through the worker queue: 1 on, 0 off, -1 auto */
};

/*
 * Runs the program. Returns the status quark should exit with: the
 * program's own, 128 + signal when a fault or a signal killed it, or one of
 * QV_EXIT_* with a message already printed on stderr.
 */
int qv_run(const struct qv_run_opts *opts);

#endif /* QUARK_QVISOR_RUN_H */
