// SPDX-License-Identifier: MIT
/*
 * quark: the command line of the Quark sandbox.
 *
 *   quark check   can this host's KVM run Quark, and if not why
 *   quark run     one program in a fresh VM (QVisor + QKernel)
 *
 * Exit status of `check`: 0 = ok, 1 = this host cannot run Quark (the line
 * says why), 2 = usage error. `run` exits with the program's status, 128 +
 * the signal that killed it, 125 when quark itself could not run it, 126
 * and 127 as a shell does for "cannot execute" and "not found", 124 after
 * --timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log.h"
#include "run.h"
#include "units.h"

#define EXIT_CANNOT 1
#define EXIT_USAGE  2

static const char usage[] =
	"Usage: quark <command> [options]\n"
	"\n"
	"Quark: a KVM sandbox (a small VMM, QVisor, and a guest kernel, QKernel) after\n"
	"arXiv:2309.12624 (docs/quark.md, quark(1)).\n"
	"\n"
	"Commands:\n"
	"  run      run one program in a fresh VM\n"
	"  check    report whether this host's KVM can run Quark, and why not\n"
	"\n"
	"Run 'quark COMMAND --help' for its options.\n";

static const char run_usage[] =
	"Usage: quark run [OPTIONS] [--] PROGRAM [ARG...]\n"
	"\n"
	"Runs PROGRAM (an unmodified static or dynamic x86-64 Linux executable) in a\n"
	"fresh VM: QKernel serves its system calls inside the guest and forwards file\n"
	"operations to QVisor, which performs them inside the root directory only.\n"
	"stdin, stdout and stderr are the caller's; the exit status is the program's\n"
	"(128 + N when signal N killed it; 125 when quark could not run it; 126 cannot\n"
	"execute; 127 not found; 124 after --timeout).\n"
	"\n"
	"Options:\n"
	"  --rootfs DIR       the program's root directory (default /); paths never\n"
	"                     leave it: .., absolute symlinks and loops stay inside\n"
	"  --workdir DIR      working directory inside the root (default /)\n"
	"  --env K=V          add to the environment (repeatable); the program sees only\n"
	"                     these, plus PATH="
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	"                     unless PATH is given; PROGRAM without a '/' is looked up\n"
	"                     on that PATH inside the root\n"
	"  --memory SIZE      guest memory, e.g. 256M or 1G (default 256M, 16M to 2G)\n"
	"  --cpus N           vCPUs, 1 to 16 (default 1); the program may run N threads at once\n"
	"  --timeout SECONDS  stop the program after this long (exit status 124)\n"
	"  --stats            print on stderr at exit: VM exits, hypercalls, system\n"
	"                     calls by number (unknown ones too) and the host's\n"
	"                     operations (calls, errors, bytes)\n"
	"  --queue on|off|auto  forwarded calls through a host worker polling a shared\n"
	"                     queue (no VM exit per call) or one hypercall exit each;\n"
	"                     auto (default) = on when the host has two CPUs or more\n"
	"  --device PATH      the KVM device (default /dev/kvm)\n"
	"  -v, --verbose      print each start-up step and QKernel's diagnostics\n"
	"  -h, --help         this text\n";

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

enum {
	OPT_ROOTFS = 256,
	OPT_WORKDIR,
	OPT_ENV,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_TIMEOUT,
	OPT_STATS,
	OPT_DEVICE,
	OPT_QUEUE
};

/* --memory, --cpus, --timeout, --queue: 0, or EXIT_USAGE after saying why. */
static int run_value_option(int opt, const char *arg, struct qv_run_opts *o)
{
	uint64_t v;

	switch (opt) {
	case OPT_MEMORY:
		if (units_parse_size(arg, &v) < 0 || v < QUARK_RUN_MEM_MIN ||
		    v > QUARK_RUN_MEM_MAX) {
			log_err("run: bad --memory '%s' (expected 16M to 2G)", arg);
			return EXIT_USAGE;
		}
		/* The kernel window maps memory in 2 MiB pages. */
		o->mem_size = (v + 0x1fffff) & ~(uint64_t)0x1fffff;
		break;
	case OPT_CPUS:
		if (parse_u64(arg, 1, QUARK_MAX_CPUS, &v) < 0) {
			log_err("run: bad --cpus '%s' (expected 1 to %llu)", arg, QUARK_MAX_CPUS);
			return EXIT_USAGE;
		}
		o->cpus = (unsigned)v;
		break;
	case OPT_TIMEOUT:
		if (parse_u64(arg, 1, 86400, &v) < 0) {
			log_err("run: bad --timeout '%s' (expected 1 to 86400 seconds)", arg);
			return EXIT_USAGE;
		}
		o->timeout_s = (unsigned)v;
		break;
	case OPT_QUEUE:
		if (!strcmp(arg, "on") || !strcmp(arg, "off") || !strcmp(arg, "auto")) {
			o->queue = arg[1] == 'n' ? 1 : arg[1] == 'f' ? 0 : -1;
			break;
		}
		log_err("run: bad --queue '%s' (expected on, off or auto)", arg);
		return EXIT_USAGE;
	default:
		break;
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rootfs", required_argument, NULL, OPT_ROOTFS },
		{ "workdir", required_argument, NULL, OPT_WORKDIR },
		{ "env", required_argument, NULL, OPT_ENV },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct qv_run_opts o = {
		.device = "/dev/kvm",
		.rootfs = "/",
		.workdir = "/",
		.mem_size = QUARK_RUN_MEM_DEFAULT,
		.cpus = 1,
		.queue = -1,
	};
	const char **env;
	bool have_path = false;
	int opt, envc = 0, rc;

	env = calloc((size_t)argc + 2, sizeof(*env));
	if (!env) {
		log_err("run: out of memory");
		return QV_EXIT_RUNTIME;
	}
	optind = 1;
	/* "+": stop at the first non-option, so the program's own options stay its own. */
	/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
	while ((opt = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_ROOTFS:
			o.rootfs = optarg;
			break;
		case OPT_WORKDIR:
			o.workdir = optarg;
			break;
		case OPT_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				log_err("run: bad --env '%s' (expected NAME=VALUE)", optarg);
				rc = EXIT_USAGE;
				goto out;
			}
			have_path |= !strncmp(optarg, "PATH=", 5);
			env[envc++] = optarg;
			break;
		case OPT_MEMORY:
		case OPT_CPUS:
		case OPT_TIMEOUT:
		case OPT_QUEUE:
			rc = run_value_option(opt, optarg, &o);
			if (rc)
				goto out;
			break;
		case OPT_STATS:
			o.stats = true;
			break;
		case OPT_DEVICE:
			o.device = optarg;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			fputs(run_usage, stdout);
			rc = 0;
			goto out;
		default:
			fputs(run_usage, stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		log_err("run: no program given (try 'quark run --help')");
		rc = EXIT_USAGE;
		goto out;
	}
	if (!have_path)
		env[envc++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	o.argv = argv + optind;
	o.argc = argc - optind;
	o.envp = env;
	o.envc = envc;
	rc = qv_run(&o);
out:
	free(env);
	return rc;
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
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	log_err("unknown command '%s' (try 'quark --help')", cmd);
	return EXIT_USAGE;
}
