/* SPDX-License-Identifier: MIT */
/*
 * The splice fast path as seen from user space: loading the TC program,
 * attaching it to the balancer's interfaces, and the four maps it shares
 * with the slow path (layouts in splice-abi.h). One agent per process,
 * opened by the main thread before the workers start; the map calls are
 * plain bpf(2) system calls and safe from any thread.
 */
#ifndef LACONIC_AGENT_H
#define LACONIC_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "splice-abi.h"

struct lc_agent;

struct lc_agent_opts {
	uint32_t max_conns;	/* spliced connections at once (lc_conns size) */
	const char *interfaces; /* comma-separated names; NULL or "" = every interface but lo */
	bool syncookies;	/* answer SYNs to splice listeners in the fast path */
	bool oneshot;		/* one-shot connections (splice_oneshot_agent) may be used */
	uint32_t idle_ms;	/* a one-shot connection silent this long is forgotten */
};

/* Loads and attaches; on failure a one-line reason in err. -errno. */
int agent_open(const struct lc_agent_opts *o, struct lc_agent **out, char *err, size_t errlen);
/* Detaches from every interface and frees; spliced connections stop flowing. */
void agent_close(struct lc_agent *a);

uint32_t agent_max_conns(const struct lc_agent *a);
/* The fast path's per-connection slots, mapped shared with the kernel. */
struct lc_conn *agent_conns(const struct lc_agent *a);
/* Names of the interfaces the program is attached to, for logs and /status. */
const char *agent_interfaces(const struct lc_agent *a);

/*
 * Both directions of one connection at once: k and f are two keys and two
 * entries of the family's layout (AF_INET: struct lc_flow_key and struct
 * lc_flow; AF_INET6: struct lc_flow6_key and struct lc_flow6), in the
 * table of that family. -errno.
 */
int agent_flow_put2(const struct lc_agent *a, int family, const void *k, const void *f);
/*
 * Deletes key k (the family's layout) if its entry still belongs to
 * connection slot `slot` (UINT32_MAX: in any case). -ESTALE if another
 * connection owns it now.
 */
int agent_flow_del(const struct lc_agent *a, int family, const void *k, uint32_t slot);
/*
 * SYN cookies (splice-abi.h): the splice listeners, as bound, whose SYNs
 * the fast path answers (replaces the previous set; -errno if one could
 * not be added, the others are in), and a re-read of the namespace's TCP
 * sysctls, which decide what a SYN-ACK offers. The slow path calls
 * agent_refresh() about once a second. agent_cookies(): are SYNs being
 * answered?
 */
struct sockaddr_storage;
int agent_set_vips(struct lc_agent *a, const struct sockaddr_storage *vips, size_t n);
void agent_refresh(struct lc_agent *a);
bool agent_cookies(const struct lc_agent *a);
/*
 * The TCP options this namespace offers on new connections (its sysctls
 * as agent_refresh() last read them): the splicer compares both legs'.
 */
void agent_offered(const struct lc_agent *a, bool *ts, bool *sack);
/*
 * One-shot connections (splice_oneshot_agent): the backends the fast path
 * balances them over, round robin (an address may repeat, for weights; n
 * at most LC_OS_BACKENDS; 0 turns it off, and such clients take the
 * ordinary path), and whether their heads get X-Forwarded-For. IPv4 only.
 * -errno if a backend has no route; -EOPNOTSUPP if the agent was opened
 * without lc_agent_opts.oneshot.
 */
int agent_set_oneshot(struct lc_agent *a, const struct sockaddr_storage *be, size_t n, bool xff);

/*
 * A finished one-shot connection, for the slow path's accounting: the
 * reaper writes one when it takes a slot, and one consumer (worker 0)
 * takes them with agent_oneshot_take() and counts, logs and graphs them
 * as the proxy would its requests.
 */
enum lc_os_end {
	LC_OS_END_CLOSED = 0, /* FIN both ways, acknowledged */
	LC_OS_END_RESET,      /* a RST from either end */
	LC_OS_END_IDLE,	      /* silent for timeout_idle */
	LC_OS_END_REFUSED,    /* the backend reset the SYN: the client was sent the
			       * ordinary way */
	LC_OS_END_UNANSWERED, /* the backend never answered the SYN */
	LC_OS_END_DECLINED,   /* the backend lacked an option the client has (no
			       * failure): the client was sent the ordinary way */
};
#define LC_OS_REC_PATH 208
struct lc_os_record {
	uint32_t caddr, baddr; /* network order */
	uint16_t cport, bport; /* network order */
	uint16_t status;       /* of the answer's first segment; 0: none seen */
	uint8_t end;	       /* enum lc_os_end */
	uint8_t pathlen;       /* bytes in path, cut at LC_OS_REC_PATH */
	uint64_t req_bytes;    /* the client's (its head), without our X-Forwarded-For */
	uint64_t xff_bytes;    /* the X-Forwarded-For line we added */
	uint64_t resp_bytes;
	uint64_t us; /* from the head to the backend's FIN (or its last packet) */
	char path[LC_OS_REC_PATH];
};
/*
 * Up to max records, oldest first; the number taken. One consumer thread
 * only. agent_oneshot_lost(): records dropped because the consumer fell a
 * whole ring behind (the connections were served; only their accounting
 * is missing).
 */
bool agent_oneshot_on(const struct lc_agent *a);
/*
 * At shutdown, once the workers are gone: no new one-shot connections,
 * and the reaper's last pass, whose records the caller then takes.
 */
void agent_oneshot_stop(struct lc_agent *a);
size_t agent_oneshot_take(struct lc_agent *a, struct lc_os_record *out, size_t max);
uint64_t agent_oneshot_lost(const struct lc_agent *a);

/* Sums the per-CPU fast-path counters into out[LC_S_MAX]. */
int agent_stats(const struct lc_agent *a, uint64_t *out);

#endif /* LACONIC_AGENT_H */
