// SPDX-License-Identifier: MIT
/*
 * quark: the command line of the Quark sandbox. Only `quark check` exists
 * so far (issue 5's foundation); `quark run` comes with QVisor and QKernel
 * proper, and until then asking for it is an error that says what exists.
 *
 * Exit status: 0 = ok, 1 = this host cannot run Quark (the line says why),
 * 2 = usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log.h"

#define EXIT_CANNOT 1
#define EXIT_USAGE  2

static const char usage[] =
	"Usage: quark <command> [options]\n"
	"\n"
	"Quark: a KVM sandbox (a small VMM, QVisor, and a guest kernel, QKernel) after\n"
	"arXiv:2309.12624. This build has the host check only; running programs is not\n"
	"built yet (docs/quark.md).\n"
	"\n"
	"Commands:\n"
	"  check    report whether this host's KVM can run Quark, and why not\n"
	"\n"
	"Run 'quark check --help' for its options.\n";

static const char check_usage[] =
	"Usage: quark check [--verbose] [--iterations N] [--timeout SECONDS] [--device PATH]\n"
	"\n"
	"Builds a VM from nothing on /dev/kvm (64-bit long mode set up by the host) and\n"
	"runs a probe guest that makes N ring-3 syscalls into its own ring-0 handler and\n"
	"returns with sysretq: the transition every Quark system call depends on. Prints\n"
	"one line:\n"
	"  quark check: ok: ...              exit status 0\n"
	"  quark check: cannot run: REASON   exit status 1\n"
	"\n"
	"Options:\n"
	"  -v, --verbose          print each step and capability to stderr\n"
	"  -n, --iterations N     syscall round trips to make and time (default 20000,\n"
	"                         at most 100000000)\n"
	"  -t, --timeout SECONDS  stop a guest that runs longer (default 30, at most 3600)\n"
	"      --device PATH      the KVM device (default /dev/kvm)\n"
	"  -h, --help             this text\n";

/* Parses a decimal in [min, max]; the whole string must be the number. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* A duration in microseconds with three significant digits or so. */
static void fmt_us(double ns, char *buf, size_t len)
{
	double us = ns / 1000.0;

	if (us >= 100)
		snprintf(buf, len, "%.0f", us);
	else if (us >= 10)
		snprintf(buf, len, "%.1f", us);
	else if (us >= 1)
		snprintf(buf, len, "%.2f", us);
	else
		snprintf(buf, len, "%.3f", us);
}

static int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct qv_check_opts opts = {
		.device = "/dev/kvm",
		.iterations = QV_CHECK_DEFAULT_ITERATIONS,
		.timeout_s = QV_CHECK_DEFAULT_TIMEOUT_S,
		.verbose = false,
	};
	struct qv_check_result res;
	char sys[32], hc[32];
	uint64_t v;
	int opt, rc;

	optind = 1;
	/* Single-threaded program: getopt's static state is safe. */
	/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
	while ((opt = getopt_long(argc, argv, "vn:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			opts.verbose = true;
			break;
		case 'n':
			if (parse_u64(optarg, 1, QUARK_PROBE_MAX_ITERATIONS, &v) < 0) {
				log_err("check: bad --iterations '%s' (expected 1 to %llu)", optarg,
					QUARK_PROBE_MAX_ITERATIONS);
				return EXIT_USAGE;
			}
			opts.iterations = v;
			break;
		case 't':
			if (parse_u64(optarg, 1, QV_CHECK_MAX_TIMEOUT_S, &v) < 0) {
				log_err("check: bad --timeout '%s' (expected 1 to %d seconds)",
					optarg, QV_CHECK_MAX_TIMEOUT_S);
				return EXIT_USAGE;
			}
			opts.timeout_s = (unsigned)v;
			break;
		case 'd':
			opts.device = optarg;
			break;
		case 'h':
			fputs(check_usage, stdout);
			return 0;
		default:
			fputs(check_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_err("check: unexpected argument '%s' (try 'quark check --help')", argv[optind]);
		return EXIT_USAGE;
	}

	rc = qv_check_run(&opts, &res);
	if (rc < 0 || !res.ok) {
		printf("quark check: cannot run: %s\n", res.reason);
		return EXIT_CANNOT;
	}
	fmt_us(res.syscall_ns, sys, sizeof(sys));
	fmt_us(res.hypercall_ns, hc, sizeof(hc));
	printf("quark check: ok: ring-3 syscall -> ring 0 -> sysretq works (%s us per round trip, "
	       "%" PRIu64 " iterations; hypercall exit %s us)\n",
	       sys, res.iterations, hc);
	if (opts.verbose)
		fprintf(stderr,
			"quark check: start-up %.2f ms to the first hypercall: open %.2f, "
			"capabilities %.2f, VM %.2f, vCPU %.2f, layout %.2f, first KVM_RUN "
			"%.2f; %" PRIu64 " exits in all\n",
			res.first_exit_ms, res.open_ms, res.caps_ms, res.vm_ms, res.vcpu_ms,
			res.layout_ms, res.first_run_ms, res.exits);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	log_init("quark", LOG_INFO);
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	log_err("unknown command '%s': this build has only 'check' (try 'quark --help')", cmd);
	return EXIT_USAGE;
}
