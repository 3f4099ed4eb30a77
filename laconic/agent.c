/* SPDX-License-Identifier: MIT */
/*
 * Loading and attaching the splice fast path (see agent.h, splice-abi.h).
 *
 * The BPF object is compiled at build time from bpf/splice.bpf.c and linked
 * into the binary as a byte array (lc_bpf_obj), so the program and the
 * user-space code that fills its maps always come from the same commit.
 *
 * The program goes on the clsact ingress hook of each interface with a fixed
 * handle and priority and BPF_TC_F_REPLACE: a filter left behind by a
 * laconic that was killed is replaced instead of shadowing ours (a TC
 * filter that returns TC_ACT_OK ends classification, so two programs in a
 * row would leave the second blind). The clsact qdisc is removed at close
 * only when we created it: other programs may hang on it.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "log.h"

extern const unsigned char lc_bpf_obj[];
extern const size_t lc_bpf_obj_len;

#define LC_TC_HANDLE   0x1ac0
#define LC_TC_PRIORITY 0xac
#define LC_MAX_IFACES  16

struct lc_iface {
	int ifindex;
	bool created_hook;
	char name[IF_NAMESIZE];
};

struct lc_agent {
	struct bpf_object *obj;
	int prog_fd, flows_fd, flows6_fd, conns_fd, stats_fd;
	uint32_t max_conns;
	struct lc_conn *conns;
	size_t conns_len;
	int ncpus;
	struct lc_iface ifs[LC_MAX_IFACES];
	size_t nifs;
	char names[LC_MAX_IFACES * (IF_NAMESIZE + 1)];
};

/* libbpf's messages, one line each, at debug level (its warnings repeat our errors). */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_debug("libbpf: %s", line);
	return 0;
}

static int add_iface(struct lc_agent *a, const char *name, char *err, size_t errlen)
{
	struct lc_iface *i;
	unsigned idx = if_nametoindex(name);

	if (!idx) {
		errbuf_set(err, errlen, "splice: interface '%s': %s", name, log_errstr(errno));
		return -ENODEV;
	}
	if (a->nifs == LC_MAX_IFACES) {
		errbuf_set(err, errlen, "splice: more than %d interfaces", LC_MAX_IFACES);
		return -E2BIG;
	}
	i = &a->ifs[a->nifs++];
	i->ifindex = (int)idx;
	snprintf(i->name, sizeof(i->name), "%s", name);
	return 0;
}

static int pick_ifaces(struct lc_agent *a, const char *list, char *err, size_t errlen)
{
	struct if_nameindex *all, *p;
	int ret = 0;

	if (list && list[0]) {
		char buf[512], *save = NULL, *tok;

		snprintf(buf, sizeof(buf), "%s", list);
		for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			ret = add_iface(a, tok, err, errlen);
			if (ret)
				return ret;
		}
		goto out;
	}
	all = if_nameindex();
	if (!all) {
		errbuf_set(err, errlen, "splice: listing interfaces: %s", log_errstr(errno));
		return -errno;
	}
	for (p = all; p->if_index && !ret; p++)
		if (strcmp(p->if_name, "lo") != 0)
			ret = add_iface(a, p->if_name, err, errlen);
	if_freenameindex(all);
	if (ret)
		return ret;
out:
	if (!a->nifs) {
		errbuf_set(err, errlen, "splice: no interface to attach to");
		return -ENODEV;
	}
	return 0;
}

/* Where our filter sits on interface i: its ingress hook, our handle and priority. */
static void tc_ids(const struct lc_iface *i, struct bpf_tc_hook *hook, struct bpf_tc_opts *opts)
{
	*hook = (struct bpf_tc_hook){ .sz = sizeof(*hook),
				      .ifindex = i->ifindex,
				      .attach_point = BPF_TC_INGRESS };
	*opts = (struct bpf_tc_opts){ .sz = sizeof(*opts),
				      .handle = LC_TC_HANDLE,
				      .priority = LC_TC_PRIORITY };
}

static void detach(struct lc_agent *a)
{
	size_t n;

	for (n = 0; n < a->nifs; n++) {
		struct lc_iface *i = &a->ifs[n];
		struct bpf_tc_hook hook;
		struct bpf_tc_opts opts;

		tc_ids(i, &hook, &opts);
		bpf_tc_detach(&hook, &opts);
		if (i->created_hook) {
			/* Both points named: libbpf then removes the clsact qdisc itself. */
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
	}
	a->nifs = 0;
}

static int attach(struct lc_agent *a, char *err, size_t errlen)
{
	size_t n;
	int r;

	for (n = 0; n < a->nifs; n++) {
		struct lc_iface *i = &a->ifs[n];
		struct bpf_tc_hook hook;
		struct bpf_tc_opts opts;

		tc_ids(i, &hook, &opts);
		opts.prog_fd = a->prog_fd;
		opts.flags = BPF_TC_F_REPLACE;
		r = bpf_tc_hook_create(&hook);
		if (r && r != -EEXIST) {
			errbuf_set(err, errlen, "splice: clsact qdisc on %s: %s", i->name,
				   log_errstr(-r));
			return r;
		}
		i->created_hook = r == 0;
		r = bpf_tc_attach(&hook, &opts);
		if (r) {
			errbuf_set(err, errlen, "splice: attaching the TC program to %s: %s",
				   i->name, log_errstr(-r));
			return r;
		}
	}
	return 0;
}

static int map_fd(struct lc_agent *a, const char *name, uint32_t max, char *err, size_t errlen)
{
	struct bpf_map *m = bpf_object__find_map_by_name(a->obj, name);

	if (!m) {
		errbuf_set(err, errlen, "splice: BPF object lacks map %s", name);
		return -ENOENT;
	}
	if (max && bpf_map__set_max_entries(m, max)) {
		errbuf_set(err, errlen, "splice: sizing map %s", name);
		return -EINVAL;
	}
	return 0;
}

int agent_open(const struct lc_agent_opts *o, struct lc_agent **out, char *err, size_t errlen)
{
	struct bpf_object_open_opts oo = { .sz = sizeof(struct bpf_object_open_opts),
					   .object_name = "laconic_splice" };
	struct lc_agent *a;
	struct bpf_program *prog;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->prog_fd = a->flows_fd = a->flows6_fd = a->conns_fd = a->stats_fd = -1;
	a->max_conns = o->max_conns ? o->max_conns : LC_DEFAULT_CONNS;
	libbpf_set_print(libbpf_log);
	r = pick_ifaces(a, o->interfaces, err, errlen);
	if (r)
		goto fail;
	a->obj = bpf_object__open_mem(lc_bpf_obj, lc_bpf_obj_len, &oo);
	if (!a->obj) {
		r = -errno;
		errbuf_set(err, errlen, "splice: opening the BPF object: %s", log_errstr(-r));
		goto fail;
	}
	/*
	 * Both flow tables get room for every connection: a connection may be
	 * of either family. A preallocated IPv6 entry (key, value and the
	 * kernel's element header) takes about 170 bytes, so the IPv6 table
	 * adds 22 MB at the default capacity (the IPv4 one takes 16 MB); one
	 * map with a key wide enough for both would take as much and slow
	 * every IPv4 look-up.
	 */
	r = map_fd(a, LC_MAP_FLOWS, 2 * a->max_conns, err, errlen);
	if (!r)
		r = map_fd(a, LC_MAP_FLOWS6, 2 * a->max_conns, err, errlen);
	if (!r)
		r = map_fd(a, LC_MAP_CONNS, a->max_conns, err, errlen);
	if (r)
		goto fail;
	r = bpf_object__load(a->obj);
	if (r) {
		errbuf_set(err, errlen,
			   "splice: loading the BPF program: %s (splice mode needs root or "
			   "CAP_BPF+CAP_NET_ADMIN, and Linux 5.17 or later with BPF and BTF)",
			   log_errstr(-r));
		goto fail;
	}
	prog = bpf_object__find_program_by_name(a->obj, LC_PROG);
	a->prog_fd = prog ? bpf_program__fd(prog) : -1;
	a->flows_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_FLOWS);
	a->flows6_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_FLOWS6);
	a->conns_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_CONNS);
	a->stats_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_STATS);
	if (a->prog_fd < 0 || a->flows_fd < 0 || a->flows6_fd < 0 || a->conns_fd < 0 ||
	    a->stats_fd < 0) {
		errbuf_set(err, errlen, "splice: the BPF object lacks its program or maps");
		r = -ENOENT;
		goto fail;
	}
	a->conns_len = (size_t)a->max_conns * sizeof(struct lc_conn);
	a->conns = mmap(NULL, a->conns_len, PROT_READ | PROT_WRITE, MAP_SHARED, a->conns_fd, 0);
	if (a->conns == MAP_FAILED) {
		r = -errno;
		a->conns = NULL;
		errbuf_set(err, errlen, "splice: mapping %s: %s", LC_MAP_CONNS, log_errstr(-r));
		goto fail;
	}
	a->ncpus = libbpf_num_possible_cpus();
	if (a->ncpus <= 0) {
		r = a->ncpus ? a->ncpus : -EINVAL;
		errbuf_set(err, errlen, "splice: counting CPUs: %s", log_errstr(-r));
		goto fail;
	}
	r = attach(a, err, errlen);
	if (r)
		goto fail;
	{
		size_t n, at = 0;

		for (n = 0; n < a->nifs; n++)
			at += (size_t)snprintf(a->names + at, sizeof(a->names) - at, "%s%s",
					       n ? "," : "", a->ifs[n].name);
	}
	*out = a;
	return 0;
fail:
	agent_close(a);
	return r;
}

void agent_close(struct lc_agent *a)
{
	if (!a)
		return;
	detach(a);
	if (a->conns)
		munmap(a->conns, a->conns_len);
	bpf_object__close(a->obj);
	free(a);
}

uint32_t agent_max_conns(const struct lc_agent *a)
{
	return a->max_conns;
}

struct lc_conn *agent_conns(const struct lc_agent *a)
{
	return a->conns;
}

const char *agent_interfaces(const struct lc_agent *a)
{
	return a->names;
}

int agent_flow_put2(const struct lc_agent *a, int family, const void *k, const void *f)
{
	struct bpf_map_batch_opts o = { .sz = sizeof(o) };
	uint32_t n = 2;

	/* One system call for both directions: on a paravirtualised guest a
	 * system call costs microseconds, and a splice makes dozens. */
	if (bpf_map_update_batch(family == AF_INET6 ? a->flows6_fd : a->flows_fd, k, f, &n, &o))
		return -errno;
	return n == 2 ? 0 : -EIO;
}

int agent_flow_del(const struct lc_agent *a, int family, const void *k, uint32_t slot)
{
	int fd = family == AF_INET6 ? a->flows6_fd : a->flows_fd;
	union {
		struct lc_flow f4;
		struct lc_flow6 f6;
	} f;

	/*
	 * A client that reuses its port while our entry lingers opens a new
	 * connection with the same key, which its own splice overwrites: that
	 * entry is not ours to delete. (Look-up then delete is not atomic; the
	 * window is one system call, against a new handshake and head read.)
	 */
	if (slot != UINT32_MAX) {
		if (bpf_map_lookup_elem(fd, k, &f))
			return -errno;
		if ((family == AF_INET6 ? f.f6.x.slot : f.f4.x.slot) != slot)
			return -ESTALE;
	}
	return bpf_map_delete_elem(fd, k) ? -errno : 0;
}

int agent_stats(const struct lc_agent *a, uint64_t *out)
{
	uint64_t *v = calloc((size_t)a->ncpus, sizeof(*v));
	uint32_t i;
	int c, ret = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < LC_S_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(a->stats_fd, &i, v)) {
			ret = -errno;
			break;
		}
		for (c = 0; c < a->ncpus; c++)
			out[i] += v[c];
	}
	free(v);
	return ret;
}
