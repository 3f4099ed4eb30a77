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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "ring.h"

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
	struct lc_cookie *cookie; /* mapped shared with the program */
	int vips_fd;
	struct sockaddr_storage *vips; /* the splice listeners as configured */
	size_t nvips;
	bool wildcard; /* one of them is: lc_vips follows the host's addresses */
	bool cookies;  /* wanted, and the kernel can take them */
	bool no6;      /* ... but not for IPv6, a module here */
	int ncpus;
	struct lc_iface ifs[LC_MAX_IFACES];
	size_t nifs;
	char names[LC_MAX_IFACES * (IF_NAMESIZE + 1)];
	/* One-shot connections: their slots, mapped, and the reaper. */
	int os_fd, osbe_fd, osst_fd;
	struct lc_os *os;
	uint64_t *osst; /* lc_osst's elements, 8 bytes each */
	pthread_t os_thread;
	bool os_running, os_stop;
	uint64_t os_idle_ns;
	/* Their accounting records: the reaper produces, worker 0 consumes. */
	void *os_ring;
	struct ring os_prod, os_cons;
	uint64_t os_lost; /* atomic */
};

static int vips_sync(struct lc_agent *a);

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

/* Does the running kernel have the cookie hand-off (Linux 6.9)? Its BTF says. */
static bool kernel_takes_cookies(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool yes;

	if (!vmlinux)
		return false;
	yes = btf__find_by_name_kind(vmlinux, "bpf_sk_assign_tcp_reqsk", BTF_KIND_FUNC) > 0;
	btf__free(vmlinux);
	return yes;
}

/*
 * Maps lc_cookie and gives it a random key. Cookies are switched on by
 * agent_refresh(), from the namespace's sysctls, once the key is there.
 */
static int cookie_open(struct lc_agent *a, const struct lc_agent_opts *o, int fd, char *err,
		       size_t errlen)
{
	uint64_t key[2];
	int r;

	a->cookie = mmap(NULL, sizeof(*a->cookie), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a->cookie == MAP_FAILED) {
		r = -errno;
		a->cookie = NULL;
		errbuf_set(err, errlen, "splice: mapping %s: %s", LC_MAP_COOKIE, log_errstr(-r));
		return r;
	}
	do
		r = (int)getrandom(key, sizeof(key), 0);
	while (r < 0 && errno == EINTR);
	if (r != (int)sizeof(key)) {
		r = r < 0 ? -errno : -EIO;
		errbuf_set(err, errlen, "splice: no random key for SYN cookies: %s",
			   log_errstr(-r));
		return r;
	}
	a->cookie->key[0] = key[0];
	a->cookie->key[1] = key[1];
	if (o->syncookies) {
		a->cookies = kernel_takes_cookies();
		if (!a->cookies)
			log_warn("splice: this kernel cannot take SYN cookies from BPF (Linux 6.9 "
				 "and CONFIG_SYN_COOKIES needed); the kernel answers SYNs itself");
		/*
		 * The hand-off serves IPv6 only when IPv6 is built in
		 * (IS_BUILTIN(CONFIG_IPV6) in net/core/filter.c): every IPv6
		 * ACK would be refused and its client reset. Only a loadable
		 * module has an initstate in sysfs.
		 */
		a->no6 = a->cookies && access("/sys/module/ipv6/initstate", F_OK) == 0;
		if (a->no6)
			log_warn(
				"splice: IPv6 is a kernel module here, and the kernel takes IPv6 "
				"SYN cookies from BPF only when it is built in; the kernel answers "
				"IPv6 SYNs itself");
	}
	agent_refresh(a);
	return 0;
}

/* An integer sysctl of this namespace; `dflt` when unreadable. */
static int sysctl_int(const char *path, int dflt)
{
	char buf[16], *e;
	ssize_t n;
	long v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return dflt;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return dflt;
	buf[n] = 0;
	v = strtol(buf, &e, 10);
	return e == buf ? dflt : (int)v;
}

void agent_refresh(struct lc_agent *a)
{
	uint32_t f = 0;

	/*
	 * What the SYN-ACK may offer is what the kernel will accept when the
	 * ACK comes back (bpf_sk_assign_tcp_reqsk() checks the same sysctls),
	 * and with net.ipv4.tcp_syncookies at 0 the kernel takes no cookie at
	 * all: then the kernel answers SYNs itself. A kernel without that
	 * sysctl was built without SYN cookies (its hand-off fails).
	 */
	if (sysctl_int("/proc/sys/net/ipv4/tcp_timestamps", 1) != 0)
		f |= LC_CK_TS;
	if (sysctl_int("/proc/sys/net/ipv4/tcp_sack", 1) != 0)
		f |= LC_CK_SACK;
	if (sysctl_int("/proc/sys/net/ipv4/tcp_window_scaling", 1) != 0)
		f |= LC_CK_WS;
	if (a->cookies) {
		f |= LC_CK_KEY | (a->no6 ? LC_CK_NO6 : 0);
		if (sysctl_int("/proc/sys/net/ipv4/tcp_syncookies", 0) != 0)
			f |= LC_CK_ON;
	}
	/* Readers take the flags alone; the key was written before the first store. */
	__atomic_store_n(&a->cookie->flags, f, __ATOMIC_RELEASE);
	/* A wildcard listener's addresses come and go with the host's. */
	if (a->wildcard)
		vips_sync(a);
}

/* The lc_vips key of address ss (its family's part) and port. */
static void vip_key(const struct sockaddr_storage *ss, uint16_t port, struct lc_vip_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = ss->ss_family;
	k->port = port;
	if (ss->ss_family == AF_INET6)
		memcpy(k->addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	else
		k->addr[0] = ((const struct sockaddr_in *)ss)->sin_addr.s_addr;
}

static bool vip_wild(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6
		       ? IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr)
		       : ((const struct sockaddr_in *)ss)->sin_addr.s_addr == INADDR_ANY;
}

static uint16_t vip_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
					       : ((const struct sockaddr_in *)ss)->sin_port);
}

/* Appends key k to the growing array *keys (*nk used, *cap room). */
static int key_push(struct lc_vip_key **keys, size_t *nk, size_t *cap, const struct lc_vip_key *k)
{
	if (*nk == *cap) {
		struct lc_vip_key *n = realloc(*keys, (*cap + 16) * sizeof(**keys));

		if (!n)
			return -ENOMEM;
		*keys = n;
		*cap += 16;
	}
	(*keys)[(*nk)++] = *k;
	return 0;
}

/* The entries listener v stands for: itself, or each of ifs' addresses of its family. */
static int vip_keys(const struct sockaddr_storage *v, const struct ifaddrs *ifs,
		    struct lc_vip_key **keys, size_t *nk, size_t *cap)
{
	struct lc_vip_key k;
	const struct ifaddrs *ifa;
	int ret = 0;

	if (!vip_wild(v)) {
		vip_key(v, vip_port(v), &k);
		return key_push(keys, nk, cap, &k);
	}
	for (ifa = ifs; ifa && !ret; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != v->ss_family)
			continue;
		vip_key((const struct sockaddr_storage *)(void *)ifa->ifa_addr, vip_port(v), &k);
		ret = key_push(keys, nk, cap, &k);
	}
	return ret;
}

/* Makes lc_vips hold exactly keys[0..nk): new entries in first, stale ones out after. */
static int vips_write(struct lc_agent *a, const struct lc_vip_key *keys, size_t nk)
{
	struct lc_vip_key k, next;
	uint8_t one = 1;
	size_t i;
	int ret = nk > LC_MAX_VIPS ? -ENOSPC : 0;

	for (i = 0; i < nk && i < LC_MAX_VIPS; i++)
		if (bpf_map_update_elem(a->vips_fd, &keys[i], &one, BPF_ANY) && !ret)
			ret = -errno;
	for (int more = !bpf_map_get_next_key(a->vips_fd, NULL, &k); more; k = next) {
		bool keep = false;

		more = !bpf_map_get_next_key(a->vips_fd, &k, &next);
		for (i = 0; i < nk && !keep; i++)
			keep = !memcmp(&keys[i], &k, sizeof(k));
		if (!keep)
			bpf_map_delete_elem(a->vips_fd, &k);
	}
	return ret;
}

/*
 * Brings lc_vips and the port bitmap to the configured listeners, a
 * wildcard one expanded to every address of its family the host has now.
 * New entries go in before stale ones go out, so one that stays is never
 * missing.
 */
static int vips_sync(struct lc_agent *a)
{
	uint64_t bits[sizeof(a->cookie->ports) / sizeof(uint64_t)] = { 0 };
	struct ifaddrs *ifs = NULL;
	struct lc_vip_key *keys = NULL;
	size_t i, nk = 0, cap = 0;
	int ret = 0;

	if (a->wildcard && getifaddrs(&ifs))
		return -errno;
	for (i = 0; i < a->nvips && !ret; i++) {
		uint16_t port = vip_port(&a->vips[i]);

		bits[port >> 6] |= 1ull << (port & 63);
		ret = vip_keys(&a->vips[i], ifs, &keys, &nk, &cap);
	}
	if (!ret) {
		/* Entries first; the bitmap only gates the look-up of them. */
		ret = vips_write(a, keys, nk);
		/* Word by word: a port that stays never reads as absent. */
		for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
			if (a->cookie->ports[i] != bits[i])
				__atomic_store_n(&a->cookie->ports[i], bits[i], __ATOMIC_RELAXED);
	}
	free(keys);
	if (ifs)
		freeifaddrs(ifs);
	return ret;
}

int agent_set_vips(struct lc_agent *a, const struct sockaddr_storage *vips, size_t n)
{
	struct sockaddr_storage *copy = calloc(n ? n : 1, sizeof(*copy));
	size_t i;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, vips, n * sizeof(*copy));
	free(a->vips);
	a->vips = copy;
	a->nvips = n;
	a->wildcard = false;
	for (i = 0; i < n; i++)
		a->wildcard |= vip_wild(&vips[i]);
	return vips_sync(a);
}

void agent_offered(const struct lc_agent *a, bool *ts, bool *sack)
{
	uint32_t f = __atomic_load_n(&a->cookie->flags, __ATOMIC_RELAXED);

	*ts = f & LC_CK_TS;
	*sack = f & LC_CK_SACK;
}

bool agent_cookies(const struct lc_agent *a)
{
	return __atomic_load_n(&a->cookie->flags, __ATOMIC_RELAXED) & LC_CK_ON;
}

/* ---------------------------------------------------------- one-shot connections */

#define OS_SYN_NS    (3000ull * 1000000)
#define OS_LINGER_NS (500ull * 1000000)

static uint64_t os_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The balancer's address towards dst and the interface that has it. */
static int os_route(const struct sockaddr_in *dst, const struct ifaddrs *ifs, struct lc_osbe *be)
{
	struct sockaddr_in src = { 0 };
	socklen_t sl = sizeof(src);
	const struct ifaddrs *i;
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) ||
	    getsockname(fd, (struct sockaddr *)&src, &sl))
		r = -errno;
	close(fd);
	if (r)
		return r;
	for (i = ifs; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
			    src.sin_addr.s_addr)
			be->ifindex = if_nametoindex(i->ifa_name);
	if (!be->ifindex)
		return -ENODEV;
	be->addr = dst->sin_addr.s_addr;
	be->src = src.sin_addr.s_addr;
	be->port = dst->sin_port;
	return 0;
}

int agent_set_oneshot(struct lc_agent *a, const struct sockaddr_storage *be, size_t n, bool xff)
{
	struct ifaddrs *ifs = NULL;
	uint32_t i;
	int r = 0;

	if (!a->os)
		return -EOPNOTSUPP;
	if (n > LC_OS_BACKENDS)
		n = LC_OS_BACKENDS;
	if (n && getifaddrs(&ifs))
		return -errno;
	for (i = 0; i < n && !r; i++) {
		struct lc_osbe e = { 0 };

		if (be[i].ss_family != AF_INET) {
			r = -EAFNOSUPPORT;
			break;
		}
		r = os_route((const struct sockaddr_in *)&be[i], ifs, &e);
		if (!r && bpf_map_update_elem(a->osbe_fd, &i, &e, BPF_ANY))
			r = -errno;
	}
	freeifaddrs(ifs);
	/* Entries past os_n are never read; a client already on its way keeps its own copy. */
	__atomic_store_n(&a->cookie->os_xff, xff ? 1u : 0u, __ATOMIC_RELAXED);
	__atomic_store_n(&a->cookie->os_n, r ? 0u : (uint32_t)n, __ATOMIC_RELEASE);
	return r;
}

/* The builtin writes *w, which clang-tidy does not see. */
// NOLINTNEXTLINE(readability-non-const-parameter)
static bool os_cas(uint64_t *w, uint64_t from, uint64_t to)
{
	return __atomic_compare_exchange_n(w, &from, to, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Deletes n keys, in one system call unless one is missing (the kernel stops there). */
static void os_delete(struct lc_agent *a, struct lc_flow_key *k, uint32_t n)
{
	struct bpf_map_batch_opts bo = { .sz = sizeof(bo) };
	uint32_t done = 0;

	while (done < n) {
		uint32_t c = n - done;

		if (!bpf_map_delete_batch(a->flows_fd, k + done, &c, &bo)) {
			done += c;
			continue;
		}
		done += c; /* c went; the next one failed */
		if (errno != ENOENT && bpf_map_delete_elem(a->flows_fd, &k[done]) &&
		    errno != ENOENT)
			log_warn("splice: a one-shot entry could not be deleted: %s",
				 log_errstr(errno));
		done++;
	}
}

/*
 * 32 768 records of 256 bytes: at the reaper's 100 ms pass and worker 0's
 * 100 ms drain, room for some 150 000 one-shot connections a second.
 */
#define OS_RING_BYTES (32768u * (uint32_t)sizeof(struct lc_os_record))
_Static_assert(sizeof(struct lc_os_record) == 256, "lc_os_record: a power of two");

/*
 * The accounting record of slot i, which the reaper holds (COOL or
 * REAPING, so the fast path no longer writes it but for stray counters).
 * A closed connection's byte counts come from its FINs' sequence numbers,
 * exact even when segments were sent twice; the others' from the
 * translated payload, resends included.
 */
static void os_account(struct lc_agent *a, uint32_t i, enum lc_os_end end)
{
	const struct lc_os *o = &a->os[i];
	const struct lc_conn *c = &a->conns[a->max_conns + i];
	struct lc_os_record r = { .caddr = o->caddr,
				  .baddr = o->baddr,
				  .cport = o->cport,
				  .bport = o->bport,
				  .status = o->status,
				  .end = (uint8_t)end };
	uint32_t hlen = o->hlen < LC_OS_HEAD_MASK ? o->hlen : LC_OS_HEAD_MASK, k;
	uint64_t t1 = o->t_fin_ns ? o->t_fin_ns : c->last_ns;

	r.xff_bytes = o->xlen < hlen ? o->xlen : 0;
	r.req_bytes = hlen - r.xff_bytes;
	if (end == LC_OS_END_REFUSED || end == LC_OS_END_UNANSWERED || end == LC_OS_END_DECLINED) {
		r.status = 0; /* the slot's conn is not this connection's yet */
	} else if (end == LC_OS_END_CLOSED && (o->fins & 3) == 3 &&
		   c->bytes[LC_B2C] < (1ull << 31)) {
		/* Sequence differences, so below 2 GiB (the payload count says which). */
		r.req_bytes = o->fin_end[LC_C2B] - o->c_next - 1;
		r.resp_bytes = o->fin_end[LC_B2C] - o->b0 - 2;
	} else {
		r.req_bytes += c->bytes[LC_C2B];
		r.resp_bytes = c->bytes[LC_B2C];
	}
	r.us = t1 > o->t_head_ns ? (t1 - o->t_head_ns) / 1000 : 0;
	/* "GET " path " HTTP/1.x": the fast path took no other request line. */
	for (k = 4; k < hlen && o->head[k] != ' ' && r.pathlen < LC_OS_REC_PATH; k++)
		r.path[r.pathlen++] = (char)o->head[k];
	if (ring_writable(&a->os_prod) < (ssize_t)sizeof(r) ||
	    ring_write(&a->os_prod, &r, sizeof(r)) != (ssize_t)sizeof(r))
		__atomic_add_fetch(&a->os_lost, 1, __ATOMIC_RELAXED);
}

size_t agent_oneshot_take(struct lc_agent *a, struct lc_os_record *out, size_t max)
{
	size_t n = 0;

	if (!a || !a->os_ring)
		return 0;
	/* Records go in whole (os_account), so readable bytes come in whole records. */
	while (n < max && ring_readable(&a->os_cons) >= (ssize_t)sizeof(*out) &&
	       ring_read(&a->os_cons, &out[n], sizeof(*out)) == (ssize_t)sizeof(*out))
		n++;
	return n;
}

uint64_t agent_oneshot_lost(const struct lc_agent *a)
{
	return a ? __atomic_load_n(&a->os_lost, __ATOMIC_RELAXED) : 0;
}

bool agent_oneshot_on(const struct lc_agent *a)
{
	return a && a->os_ring;
}

/* How a connection the reaper takes from state s ended. */
static enum lc_os_end os_end_of(const struct lc_agent *a, uint32_t i, uint64_t s)
{
	uint32_t f = __atomic_load_n(&a->conns[a->max_conns + i].flags, __ATOMIC_RELAXED);

	if (s == LC_OS_SYNSENT)
		return LC_OS_END_UNANSWERED;
	if (f & LC_F_RST)
		return LC_OS_END_RESET;
	if ((f & (LC_F_FIN_C | LC_F_FIN_B)) == (LC_F_FIN_C | LC_F_FIN_B))
		return LC_OS_END_CLOSED;
	return LC_OS_END_IDLE;
}

/*
 * Whether the reaper should take slot i in state s: closed (and lingered
 * for late retransmissions), idle, or a SYN never answered. A CLAIM never
 * outlives the program run that made it, so it is never due.
 */
static bool os_due(const struct lc_agent *a, uint32_t i, uint64_t s, uint64_t now)
{
	const struct lc_conn *c = &a->conns[a->max_conns + i];
	uint64_t t = a->os[i].t_ns;
	uint32_t f;

	if (s == LC_OS_SYNSENT)
		return now > t && now - t > OS_SYN_NS;
	if (s != LC_OS_LIVE && s != LC_OS_GONE)
		return false;
	f = __atomic_load_n(&c->flags, __ATOMIC_RELAXED);
	t = c->last_ns;
	if ((f & LC_F_RST) || (f & (LC_F_FIN_C | LC_F_FIN_B)) == (LC_F_FIN_C | LC_F_FIN_B))
		return now > t && now - t > OS_LINGER_NS;
	return now > t && now - t > a->os_idle_ns;
}

/* A slot the fast path ended (DONE): its record, and COOL, free on the next pass. */
static void os_ended(struct lc_agent *a, uint32_t i)
{
	uint8_t out;

	if (!os_cas(&a->osst[i], LC_OS_DONE, LC_OS_COOL))
		return;
	out = a->os[i].outcome;
	os_account(a, i,
		   out == LC_OS_OUT_REFUSED    ? LC_OS_END_REFUSED
		   : out == LC_OS_OUT_DECLINED ? LC_OS_END_DECLINED
					       : LC_OS_END_CLOSED);
}

/*
 * Reaps one-shot connections: closed (FIN both ways, or RST) and lingered
 * for late retransmissions, idle, or never answered. A slot is taken with
 * a compare-and-swap against the fast path (splice-abi.h), its keys go in
 * one batch per pass, and then it is free again. Every connection taken
 * leaves an accounting record (os_account) on the way.
 */
static void *os_reaper(void *arg)
{
	struct lc_agent *a = arg;
	struct lc_flow_key *keys = calloc((size_t)2 * LC_OS_SLOTS, sizeof(*keys));
	uint32_t *freeing = calloc(LC_OS_SLOTS, sizeof(*freeing));
	uint8_t *ends = calloc(LC_OS_SLOTS, sizeof(*ends));

	if (!keys || !freeing || !ends)
		goto out;
	for (;;) {
		/* A last pass after the stop, so that what ended is accounted for. */
		bool last = __atomic_load_n(&a->os_stop, __ATOMIC_RELAXED);
		uint64_t now = os_now();
		uint32_t i, nk = 0, nf = 0;

		for (i = 0; i < LC_OS_SLOTS; i++) {
			uint64_t *st = &a->osst[i], s = __atomic_load_n(st, __ATOMIC_ACQUIRE);
			const struct lc_os *o = &a->os[i];

			if (s == LC_OS_FREE)
				continue;
			if (s == LC_OS_COOL) {
				__atomic_store_n(st, LC_OS_FREE, __ATOMIC_RELEASE);
				continue;
			}
			if (s == LC_OS_DONE) {
				os_ended(a, i);
				continue;
			}
			if (!os_due(a, i, s, now) || !os_cas(st, s, LC_OS_REAPING))
				continue;
			if (s != LC_OS_GONE)
				lc_os_key(o, LC_C2B, &keys[nk++]);
			lc_os_key(o, LC_B2C, &keys[nk++]);
			ends[nf] = (uint8_t)os_end_of(a, i, s);
			freeing[nf++] = i;
		}
		if (nk)
			os_delete(a, keys, nk);
		for (i = 0; i < nf; i++) {
			os_account(a, freeing[i], (enum lc_os_end)ends[i]);
			__atomic_store_n(&a->osst[freeing[i]], LC_OS_COOL, __ATOMIC_RELEASE);
		}
		if (last)
			break;
		usleep(100000);
	}
out:
	free(keys);
	free(freeing);
	free(ends);
	return NULL;
}

/*
 * Maps the one-shot slots and starts their reaper; one-shot connections
 * start when agent_set_oneshot() gives the fast path backends.
 */
static int os_open(struct lc_agent *a, const struct lc_agent_opts *o, char *err, size_t errlen)
{
	if (!o->oneshot)
		return 0;
	a->os_idle_ns = (uint64_t)(o->idle_ms ? o->idle_ms : 60000) * 1000000;
	a->os = mmap(NULL, (size_t)LC_OS_SLOTS * sizeof(struct lc_os), PROT_READ | PROT_WRITE,
		     MAP_SHARED, a->os_fd, 0);
	a->osst = mmap(NULL, (size_t)LC_OS_SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		       MAP_SHARED, a->osst_fd, 0);
	if (a->os == MAP_FAILED || a->osst == MAP_FAILED) {
		int r = -errno;

		errbuf_set(err, errlen, "splice: mapping %s: %s", LC_MAP_OS, log_errstr(-r));
		return r;
	}
	a->os_ring = aligned_alloc(64, RING_REGION_SIZE(OS_RING_BYTES));
	if (!a->os_ring ||
	    ring_init(&a->os_prod, a->os_ring, RING_REGION_SIZE(OS_RING_BYTES), RING_PRODUCER) ||
	    ring_attach(&a->os_cons, a->os_ring, RING_REGION_SIZE(OS_RING_BYTES), RING_CONSUMER)) {
		errbuf_set(err, errlen, "splice: no memory for the one-shot records");
		return -ENOMEM;
	}
	a->cookie->os_conn0 = a->max_conns;
	a->cookie->os_port0 = LC_OS_PORT0;
	/*
	 * The reaper takes no signals: the process's SIGHUP and SIGTERM are
	 * the main loop's (signalfd), and a thread that did not block them
	 * would take their default action, the end of the process.
	 */
	{
		sigset_t all, old;
		int r;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = pthread_create(&a->os_thread, NULL, os_reaper, a);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r) {
			errbuf_set(err, errlen, "splice: no thread for the one-shot reaper");
			return -r;
		}
	}
	a->os_running = true;
	return 0;
}

void agent_oneshot_stop(struct lc_agent *a)
{
	if (!a)
		return;
	if (a->cookie)
		__atomic_store_n(&a->cookie->os_n, 0, __ATOMIC_RELEASE);
	if (a->os_running) {
		__atomic_store_n(&a->os_stop, true, __ATOMIC_RELAXED);
		pthread_join(a->os_thread, NULL);
		a->os_running = false;
	}
}

static void os_close(struct lc_agent *a)
{
	agent_oneshot_stop(a);
	if (a->os && a->os != MAP_FAILED)
		munmap(a->os, (size_t)LC_OS_SLOTS * sizeof(struct lc_os));
	if (a->osst && a->osst != MAP_FAILED)
		munmap(a->osst, (size_t)LC_OS_SLOTS * sizeof(uint64_t));
	free(a->os_ring);
	a->os_ring = NULL;
}

int agent_open(const struct lc_agent_opts *o, struct lc_agent **out, char *err, size_t errlen)
{
	struct bpf_object_open_opts oo = { .sz = sizeof(struct bpf_object_open_opts),
					   .object_name = "laconic_splice" };
	struct lc_agent *a;
	struct bpf_program *prog;
	int r, cookie_fd;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->prog_fd = a->flows_fd = a->flows6_fd = a->conns_fd = a->stats_fd = a->vips_fd = -1;
	a->os_fd = a->osbe_fd = -1;
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
	r = map_fd(a, LC_MAP_FLOWS, 2 * (a->max_conns + (o->oneshot ? LC_OS_SLOTS : 0)), err,
		   errlen);
	if (!r)
		r = map_fd(a, LC_MAP_FLOWS6, 2 * a->max_conns, err, errlen);
	if (!r)
		r = map_fd(a, LC_MAP_CONNS, a->max_conns + (o->oneshot ? LC_OS_SLOTS : 0), err,
			   errlen);
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
	cookie_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_COOKIE);
	a->vips_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_VIPS);
	if (a->prog_fd < 0 || a->flows_fd < 0 || a->flows6_fd < 0 || a->conns_fd < 0 ||
	    a->stats_fd < 0 || cookie_fd < 0 || a->vips_fd < 0) {
		errbuf_set(err, errlen, "splice: the BPF object lacks its program or maps");
		r = -ENOENT;
		goto fail;
	}
	a->os_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_OS);
	a->osbe_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_OSBE);
	a->osst_fd = bpf_object__find_map_fd_by_name(a->obj, LC_MAP_OSST);
	a->conns_len =
		(size_t)(a->max_conns + (o->oneshot ? LC_OS_SLOTS : 0)) * sizeof(struct lc_conn);
	a->conns = mmap(NULL, a->conns_len, PROT_READ | PROT_WRITE, MAP_SHARED, a->conns_fd, 0);
	if (a->conns == MAP_FAILED) {
		r = -errno;
		a->conns = NULL;
		errbuf_set(err, errlen, "splice: mapping %s: %s", LC_MAP_CONNS, log_errstr(-r));
		goto fail;
	}
	r = cookie_open(a, o, cookie_fd, err, errlen);
	if (!r)
		r = os_open(a, o, err, errlen);
	if (r)
		goto fail;
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
	os_close(a);
	if (a->conns)
		munmap(a->conns, a->conns_len);
	if (a->cookie)
		munmap(a->cookie, sizeof(*a->cookie));
	free(a->vips);
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
