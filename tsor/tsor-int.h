/* SPDX-License-Identifier: MIT */
/*
 * TSoR's internal core, linked statically into libtsor.so, tsord, the tsor
 * CLI and the unit tests: the libc call table, the tsord protocol codec,
 * channels, the per-connection data path and readiness, the fd table and
 * the epoll emulation. The wire formats are in abi.h; the model and the
 * set-up protocol are the essay there.
 *
 * Errors: every function returns 0 / a count or -errno; only the exported
 * wrappers in preload.c turn that into errno and -1 (tsor_ret()).
 *
 * Why a libc table. Inside libtsor.so a call to poll() or recv() binds to
 * our own interposed definition (the library is preloaded), so the core
 * never calls the socket API by name: it calls tsor__libc.poll etc. The
 * preload fills the table once with dlsym(RTLD_NEXT); programs and tests
 * that are not preloaded fill it with the libc functions themselves
 * (tsor_libc_direct()).
 *
 * The fd table. fd -> struct tsor_file, two levels of 1024 atomic pointers
 * (a flat array of 2^20 pointers would cost 8 MiB per process up front).
 * A tsor_file is shared by all fds dup()ed from one socket (the kernel
 * shares the open file description the same way) and counts one reference
 * per table slot plus one per call in flight. Files are type-stable: they
 * go to a free list, never back to malloc, so a lookup may increment the
 * count of a file that another thread is closing, see it is zero (or that
 * the slot changed) and retry, without touching freed memory (the
 * SLAB_TYPESAFE_BY_RCU idea). The connection a file owns is torn down (ring
 * unmapped, bells closed) when the count reaches zero, so a close() racing
 * a read() in another thread unmaps after the read has finished.
 *
 * Readiness of an accelerated connection (memory only, no syscall):
 *   readable: ring bytes, or the peer's shut_wr flag, or a kernel FIN seen
 *             before (sticky), or our own SHUT_RD;
 *   writable: ring space, unless we shut down writing; a dead peer makes it
 *             writable too (the write reports EPIPE);
 *   HUP/ERR:  as the kernel last reported them for the socket.
 * Kernel events are folded in by the poll/epoll paths, which keep the real
 * socket in their kernel wait set with POLLIN|POLLRDHUP: no data ever flows
 * on it, so it only becomes readable on FIN or RST.
 */
#ifndef TSOR_TSOR_INT_H
#define TSOR_TSOR_INT_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "abi.h"
#include "ring.h"

/* ============================ libc table ============================ */

struct tsor_libc {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
	int (*shutdown)(int, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*fcntl)(int, int, ...);
};

/* The table every core function calls through. */
extern struct tsor_libc tsor__libc;

/* Fills tsor__libc with libc's own functions (not for libtsor.so). */
void tsor_libc_direct(void);

/* ============================ protocol (proto.c) ============================ */

/* A zeroed request of `type` with magic and version set. */
void tsor_msg_init(struct tsor_msg *m, enum tsor_msg_type type);

/*
 * Validates a frame read from the peer: magic, version, known type, status
 * in [-4095, 0], ring_size 0 or a power of two in [TSOR_RING_MIN,
 * TSOR_RING_MAX], address family none/INET/INET6 and pad zero. 0 or -EPROTO.
 */
int tsor_msg_check(const struct tsor_msg *m);

/*
 * Sends one frame with nfds (0..TSOR_MAX_FDS) descriptors attached. Handles
 * EINTR and short writes. 0 or -errno.
 */
int tsor_msg_send(int sock, const struct tsor_msg *m, const int *fds, int nfds);

/*
 * Receives one whole frame and up to TSOR_MAX_FDS descriptors (close-on-
 * exec), stores them in fds[] and their number in *nfds; surplus or
 * non-SCM_RIGHTS ancillary data is closed and makes the call fail. A frame
 * that fails tsor_msg_check() closes the received fds. 0, -ECONNRESET (EOF),
 * -EPROTO, -errno. Blocks (the socket is blocking).
 */
int tsor_msg_recv(int sock, struct tsor_msg *m, int *fds, int *nfds);

/*
 * sockaddr -> tsor_addr, folding v4-mapped IPv6 to IPv4. -EAFNOSUPPORT for
 * other families, -EINVAL for a short length.
 */
int tsor_addr_from(struct tsor_addr *a, const struct sockaddr *sa, socklen_t len);

/* True when the two addresses are equal, ports included. */
bool tsor_addr_eq(const struct tsor_addr *a, const struct tsor_addr *b);

/* True for 0.0.0.0 and ::, port ignored. */
bool tsor_addr_is_any(const struct tsor_addr *a);

/* "1.2.3.4:80" / "[::1]:80" into buf (at least 64 bytes). */
void tsor_addr_format(const struct tsor_addr *a, char *buf, size_t len);

/*
 * The tsord socket path: $TSOR_SOCK, else /run/tsor/tsord.sock for root,
 * else $XDG_RUNTIME_DIR/tsor/tsord.sock, else /tmp/tsor-$UID/tsord.sock.
 * 0 or -ENAMETOOLONG.
 */
int tsor_sock_path(char *buf, size_t len);

/* Parses a decimal env var into [lo, hi]; def when unset or invalid. */
long tsor_env_long(const char *name, long def, long lo, long hi);
/* TSOR_SPIN_US (and `tsor run --spin-us`) upper bound, microseconds. */
#define TSOR_SPIN_US_MAX 100000u
/* The same for a size in lib/units.h's grammar ("1M", "65536"). */
uint64_t tsor_env_size(const char *name, uint64_t def, uint64_t lo, uint64_t hi);

/* Rounds a ring size request to a power of two in [MIN, MAX]. */
uint32_t tsor_ring_size_clamp(uint64_t want);

/* ============================ channels (chan.c) ============================ */

/*
 * tsord side: a sealed memfd of TSOR_CHAN_SIZE(ring_size) with the header
 * and both rings formatted. ring_size must already be clamped. On success
 * *memfd is owned by the caller. 0 or -errno.
 */
int tsor_chan_create(uint32_t ring_size, uint64_t id, int *memfd);

/*
 * tsord side: a channel (tsor_chan_create()) and its TSOR_BELLS bells:
 * fds[0] the memfd, fds[1..] the read ends of four pipes (non-blocking,
 * one page, mode 0666; abi.h says why). All owned by the caller on
 * success, all closed on failure. 0 or -errno.
 */
int tsor_chan_new(uint32_t ring_size, uint64_t id, int fds[TSOR_MAX_FDS]);

/* A mapping of a channel. */
struct tsor_map {
	void *base;	       /* mmap of the whole memfd */
	size_t len;	       /* its length, from fstat (never the header) */
	struct tsor_chan *hdr; /* == base */
	uint32_t ring_size;    /* validated data bytes per ring */
};

/*
 * Maps a channel received from tsord: the memfd must carry the size seals,
 * its fstat size must be TSOR_CHAN_SIZE(s) for the s in its header, and the
 * header's magic and version must match. 0, -EPROTO or -errno.
 */
int tsor_chan_map(int memfd, struct tsor_map *m);
void tsor_chan_unmap(struct tsor_map *m);

/* ============================ connections (conn.c) ============================ */

enum tsor_conn_state {
	TSOR_CONN_UNCONFIRMED = 0, /* connector: tsord has not yet matched our intent */
	TSOR_CONN_OPEN,		   /* bytes go through the rings */
	TSOR_CONN_PLAIN,	   /* intent cancelled: bytes go through the kernel */
};

/* Asks tsord to cancel an unmatched intent: 0 cancelled, -EALREADY matched, -errno. */
typedef int tsor_cancel_fn(uint64_t id);

struct tsor_conn {
	struct tsor_map map;	   /* the channel */
	struct ring tx;		   /* the ring we produce into */
	struct ring rx;		   /* the ring we consume from */
	int side;		   /* TSOR_SIDE_CONNECTOR or TSOR_SIDE_ACCEPTOR */
	int bell[2];		   /* pipes we sleep on, by direction (TSOR_RX, TSOR_TX) */
	int peer_bell[2];	   /* the peer's: our rings write them to wake it */
	uint64_t born_ns;	   /* tsor_conn_open(), just before connect() */
	int sock;		   /* our dup of the kernel socket, or -1 (tsor_conn_own_sock) */
	uint64_t id;		   /* channel id, for CLOSED and CANCEL */
	bool relay;		   /* the peer is tsord relaying to another node (xport.h) */
	_Atomic int state;	   /* enum tsor_conn_state */
	_Atomic bool nonblock;	   /* O_NONBLOCK of the open file description */
	_Atomic bool kernel_fin;   /* the kernel socket showed FIN/RST once */
	_Atomic short kernel_ev;   /* POLLHUP/POLLERR as last reported by the kernel */
	_Atomic bool rd_shut;	   /* we did shutdown(SHUT_RD) */
	_Atomic bool wr_shut;	   /* we did shutdown(SHUT_WR) */
	pthread_mutex_t tx_lock;   /* one producer at a time (threads of this process) */
	pthread_mutex_t rx_lock;   /* one consumer at a time */
	pthread_mutex_t wait_lock; /* orders waiters[] changes with the flags they arm */
	int waiters[2];		   /* our sleepers per direction (tsor_conn_wait_begin) */
	uint64_t bytes_sent;	   /* under tx_lock; reported to tsord on close */
	uint64_t confirm_ns;	   /* how long a connector waits for its match */
	uint64_t spin_ns;	   /* busy-wait budget before sleeping */
	int rcvtimeo_ms;	   /* SO_RCVTIMEO, -1 = none */
	int sndtimeo_ms;	   /* SO_SNDTIMEO, -1 = none */
	tsor_cancel_fn *cancel;	   /* for the UNCONFIRMED -> PLAIN fallback */
};

/*
 * Maps the channel and sets up side `side`: takes ownership of the
 * TSOR_BELLS bells (indexed by TSOR_BELL(); this side's two to sleep on,
 * the peer's two to wake it), which must be pipe read ends (-EPROTO
 * otherwise); each is re-opened into a private O_RDWR|O_NONBLOCK
 * description and the received fd closed (conn.c, bell_take()). memfd is
 * closed once mapped. On failure all five are closed. Connectors start
 * UNCONFIRMED, acceptors OPEN. Spin, confirm and timeouts start from the
 * environment defaults. 0 or -errno.
 */
int tsor_conn_open(struct tsor_conn *c, int memfd, const int bells[TSOR_BELLS], int side,
		   uint64_t id);

/* Unmaps and closes the bells (and the socket dup, if any). */
void tsor_conn_close(struct tsor_conn *c);

/*
 * Gives the connection a private dup (F_DUPFD_CLOEXEC) of its kernel socket
 * fd, used from then on for every poll/peek of the library's own instead
 * of the fd number the caller passes. Why: another thread's close() of the
 * application's fd must not pull the socket from under a blocked read (it
 * would poll a dead number: POLLNVAL in a busy loop, or a reused number's
 * readiness read as EOF). Kernel-like: on Linux such a read keeps blocking
 * until data or EOF, and the FIN waits for it, as here (the dup closes when
 * the connection's last reference goes). One more fd a connection. 0 or
 * -errno (then the connection keeps using the numbers it is given).
 */
int tsor_conn_own_sock(struct tsor_conn *c, int fd);

/*
 * The data path for fd's connection. iov as in readv/writev; flags
 * MSG_DONTWAIT, MSG_PEEK, MSG_WAITALL (recv), MSG_NOSIGNAL (send; without
 * it an EPIPE also raises SIGPIPE), others ignored. Blocking unless the
 * description or flags say otherwise, with spin-then-sleep. A connection
 * that is (or just became) PLAIN returns -EXDEV: the caller then makes the
 * kernel call instead. Returns bytes, 0 (EOF) or -EAGAIN/-EPIPE/
 * -ECONNRESET/-EINTR/-EXDEV.
 */
ssize_t tsor_conn_recv(struct tsor_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags);
ssize_t tsor_conn_send(struct tsor_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags);

/* shutdown() for an accelerated connection, then the real one. 0 or -errno. */
int tsor_conn_shutdown(struct tsor_conn *c, int fd, int how);

/* FIONREAD: bytes readable from the ring. */
ssize_t tsor_conn_nread(struct tsor_conn *c);

/*
 * Readiness for poll events (POLLIN/POLLOUT/POLLRDHUP/POLLPRI asked; POLLHUP
 * and POLLERR always). Memory only for OPEN connections. UNCONFIRMED ones
 * move to OPEN when tsord's match is visible; until then the caller must
 * use the kernel's answer (returns -EXDEV, as do PLAIN ones).
 */
int tsor_conn_ready(struct tsor_conn *c, short events, short *revents);

/* Folds a kernel poll result for the socket (asked POLLIN|POLLRDHUP). */
void tsor_conn_kernel(struct tsor_conn *c, short revents);

/*
 * Arms the sleep flags for `events` (ring_arm_wait() on rx for POLLIN, tx
 * for POLLOUT) and returns what is ready after arming, like
 * tsor_conn_ready(). The caller then sleeps on the bells of those
 * directions (bell[TSOR_RX] for POLLIN, bell[TSOR_TX] for POLLOUT) and the
 * socket.
 */
int tsor_conn_arm(struct tsor_conn *c, short events, short *revents);

/*
 * Bracket every sleep on this connection's bells: begin before the first
 * tsor_conn_arm() for `events`, end (same events) once awake for good.
 * The last of this process's waiters of a direction to end clears that
 * ring's sleep flag (ring_disarm()), so the peer stops ringing the bell
 * while we are awake: a bell costs a pipe write there and a drain here,
 * per message, and an epoll that slept once had armed every item. The
 * counts are per process: two processes sleeping on one connection at
 * once (after fork) may delay each other's wake-up by one sleep slice.
 */
void tsor_conn_wait_begin(struct tsor_conn *c, short events);
void tsor_conn_wait_end(struct tsor_conn *c, short events);

/* Empties bell[dir] (reads until EAGAIN; it is non-blocking). */
void tsor_conn_drain_bell(struct tsor_conn *c, int dir);
/* The same for a bell fd found in a poll set. */
void tsor_conn_drain_fd(int fd);

/*
 * The connector's wait for tsord's match: returns 0 with the state OPEN or
 * PLAIN (after a CANCEL), or -errno. A blocking caller waits up to
 * confirm_ns from now (or to born_ns + confirm_ns if later), as before; a
 * non-blocking one goes by born_ns + confirm_ns (from connect()). fd is the socket (a
 * plain server that speaks first, or an error such as a refused connect,
 * ends the wait at once; the error is left pending for the application).
 * nonblock: return -EAGAIN instead of waiting while the deadline is ahead;
 * the decision after it costs one tsord round trip, no wait.
 */
int tsor_conn_confirm(struct tsor_conn *c, int fd, bool nonblock);
uint64_t tsor_conn_confirm_deadline(const struct tsor_conn *c);

/*
 * For poll/epoll on a connection tsor_conn_ready() answered -EXDEV: the
 * mask to apply to the kernel's answer. An UNCONFIRMED connection is not
 * writable (a write would have to wait for tsord) until it is OPEN or its
 * deadline passed, when this settles it (CANCEL, no wait) and returns ~0.
 */
short tsor_conn_poll_mask(struct tsor_conn *c, int fd);

/* Ms until an UNCONFIRMED connection's deadline (a sleep cap), else -1. */
int tsor_conn_confirm_ms(const struct tsor_conn *c);

/* Monotonic nanoseconds. */
uint64_t tsor_now_ns(void);

/*
 * Reads TSOR_SPIN_US (0 when !spin: on one CPU a spinning waiter only
 * delays the peer it waits for) and TSOR_CONFIRM_MS for every connection
 * made from now on, and returns the spin budget in ns. libtsor.so calls it
 * once at load: servers empty their environment before forking workers,
 * and a getenv() per connection would race a setenv() in another thread.
 */
uint64_t tsor_conn_tune(bool spin);

/*
 * Signals during a sleep (libtsor.so's sigwrap.c wraps the program's
 * handlers and calls tsor_sig_note() from each delivery, on the thread it
 * interrupts). tsor_sig_wrapping says the wrapper is in place; without it
 * (tsord, the tests) an interrupted sleep is always EINTR.
 */
extern bool tsor_sig_wrapping;
void tsor_sig_note(bool restart);

/*
 * Adaptive spinning (per thread). A wait asks tsor_spin_budget(max) how
 * long to spin and reports with tsor_spin_result() whether the spin found
 * the event. Hits keep the full budget; each miss halves it (to 0), and
 * every 16th wait spins the full max anyway, so the budget comes back as
 * soon as spinning pays again. Why: on 2 vCPUs shared with other work a
 * spinner takes the CPU its peer needs, every spin misses, and sleeping at
 * once is cheaper; when the CPUs are free, spins hit and stay on.
 */
uint64_t tsor_spin_budget(uint64_t max);
void tsor_spin_result(uint64_t max, bool hit);

/*
 * One round of a spin loop: false when it must stop, because the deadline
 * `end` passed or because more than TSOR_PREEMPT_NS went by since the last
 * round (*last): then another task had our CPU, spinning steals from it
 * (likely our peer), and the next tsor_spin_result() drops the budget to 0
 * whether or not the spin hit.
 */
bool tsor_spin_step(uint64_t *last, uint64_t end);
#define TSOR_PREEMPT_NS 20000u

/* ============================ fd table (fdtab.c) ============================ */

enum tsor_file_kind {
	TSOR_FILE_TCP = 0,  /* a TCP socket we created, not (yet) listening or accelerated */
	TSOR_FILE_LISTENER, /* a listening socket registered with tsord */
	TSOR_FILE_CONN,	    /* an accelerated connection */
	TSOR_FILE_EPOLL,    /* an epoll instance we emulate accelerated fds for */
};

struct tsor_ep;

struct tsor_file {
	_Atomic int refs;	  /* table slots + calls in flight; 0 = free */
	enum tsor_file_kind kind; /* what the fd is */
	uint64_t listener_id;	  /* LISTENER: tsord registration */
	struct tsor_conn *conn;	  /* CONN: owned */
	struct tsor_ep *ep;	  /* EPOLL: owned */
	struct tsor_file *next;	  /* free list link */
};

/* Called when a file's last reference goes, before it is recycled. */
typedef void tsor_file_release_fn(struct tsor_file *f);

/* Sets the release hook (the preload: CLOSED/UNLISTEN to tsord, unmap). */
void tsor_fd_set_release(tsor_file_release_fn *fn);

/*
 * The library's own descriptors (bells, its dup of a socket, shadow
 * epolls, the tsord connection) live at or above a floor, so that the
 * program's descriptors are numbered as without the library: programs
 * size tables by their own fd count (wrk: 3 per connection) or rely on
 * the lowest free number. tsor_fd_hide() moves fd up there (close-on-exec)
 * and returns the new number, or fd itself when the floor is 0 (tsord)
 * or nothing is free above it.
 */
void tsor_fd_set_floor(int floor);
int tsor_fd_hide(int fd);

/* A fresh file of `kind` with one reference, or NULL (ENOMEM). */
struct tsor_file *tsor_file_new(enum tsor_file_kind kind);

/* Takes a reference. */
void tsor_file_get(struct tsor_file *f);

/* Drops a reference; the last one releases and recycles the file. */
void tsor_file_put(struct tsor_file *f);

/* The file at fd with a reference taken, or NULL. Lock-free. */
struct tsor_file *tsor_fd_get(int fd);

/*
 * Puts f (which gains the slot's reference: the caller's reference is
 * transferred when f != NULL) at fd, dropping whatever was there. fd beyond
 * the table's 2^20 slots: -EMFILE (f's reference is dropped).
 */
int tsor_fd_install(int fd, struct tsor_file *f);

/* Empties slot fd and drops its reference; true when there was one. */
bool tsor_fd_remove(int fd);

/* Forgets every slot (a child after fork keeps them: not used there). */
void tsor_fd_reset(void);

/* ============================ epoll emulation (ep.c) ============================ */

/*
 * The longest a sleeping epoll/poll/select waits before it re-scans its
 * items (100 ms): the safety net under the bells. The unit tests raise it,
 * so that a missed bell shows as a wait of that length, not a slow pass.
 */
extern int tsor_ep_slice_ms;

struct tsor_ep_item {
	int fd;		     /* the application's fd */
	struct tsor_file *f; /* its CONN file, referenced */
	uint32_t events;     /* EPOLL* interest incl. EPOLLET/EPOLLONESHOT */
	epoll_data_t data;   /* returned to the application as is */
	bool fresh;	     /* ET: report the current state once (after ADD/MOD) */
	bool off;	     /* ONESHOT fired: silent until MOD */
	uint32_t seen_tail;  /* ET: rx tail at the last EPOLLIN report */
	uint32_t seen_head;  /* ET: tx head at the last EPOLLOUT report */
	bool seen_eof;	     /* ET: EOF already reported */
	bool live;	     /* registered by the application; false: a ghost (ep.c) */
	short armed;	     /* POLLIN/POLLOUT counted by tsor_conn_wait_begin(), under lock */
};

/* A TCP socket the application put in the real epoll before it connected. */
struct tsor_ep_pend {
	int fd;		   /* the application's fd */
	uint32_t events;   /* as registered */
	epoll_data_t data; /* as registered */
};

struct tsor_ep {
	int epfd;		    /* the real epoll: the application's kernel fds */
	int shadow;		    /* our epoll: sockets (FIN) and bells of items, or -1 */
	bool nested;		    /* epfd is in the shadow too (ep.c, SHADOW_REAL) */
	pthread_mutex_t lock;	    /* items; one waiter scans at a time */
	struct tsor_ep_item *items; /* accelerated fds registered by the application */
	size_t n, cap;		    /* used and allocated items, ghosts included */
	size_t ghosts;		    /* items the application DELeted (ep.c, "Ghosts") */
	int sleepers;		    /* threads in the sleeping phase of tsor_ep_wait() */
	size_t rot;		    /* where the next scan starts (fairness) */
	struct tsor_ep_pend *pend;  /* unconnected TCP sockets in the real epoll */
	size_t npend, cappend;	    /* used and allocated */
};

int tsor_ep_init(struct tsor_ep *ep, int epfd);
void tsor_ep_destroy(struct tsor_ep *ep);

/*
 * epoll_ctl for an accelerated fd (f is its CONN file). DEL keeps the item
 * as a ghost (ep.c), invisible to the application. 0 or -errno.
 */
int tsor_ep_ctl(struct tsor_ep *ep, int op, int fd, struct tsor_file *f,
		const struct epoll_event *ev);

/* Drops every item (ghosts too) and pending record for fd (the application closed it). */
void tsor_ep_forget(struct tsor_ep *ep, int fd);

/*
 * Records a successful real epoll_ctl(op, fd, ev) of a TCP socket that may
 * still become accelerated (created by socket(), not yet connected), so
 * that tsor_ep_adopt() can move it out of the kernel's epoll if it does
 * (event loops such as nginx's register upstream sockets before connect).
 */
void tsor_ep_note(struct tsor_ep *ep, int op, int fd, const struct epoll_event *ev);

/*
 * fd (with CONN file f) just became accelerated: if the application had it
 * in the real epoll, take it out and make it an item with the same events
 * and data. 0 or -errno.
 */
int tsor_ep_adopt(struct tsor_ep *ep, int fd, struct tsor_file *f);

/*
 * epoll_wait/epoll_pwait with items: drains the shadow, scans the live
 * items' rings and asks the real epoll when the shadow says it has events
 * (it is nested there), spins for up to spin_ns, then arms the sleep flags
 * and sleeps in ppoll() on the shadow; the last sleeper to wake disarms
 * them. sigmask as epoll_pwait. Returns events or -errno.
 */
int tsor_ep_wait(struct tsor_ep *ep, struct epoll_event *evs, int max, int timeout_ms,
		 const sigset_t *sigmask, uint64_t spin_ns);

/*
 * poll/ppoll over fds where files[i] is the CONN file of fds[i].fd or NULL.
 * timeout_ms < 0 waits forever. Returns the number of fds with revents or
 * -errno.
 */
int tsor_poll(struct pollfd *fds, nfds_t n, struct tsor_file **files, int timeout_ms,
	      const sigset_t *sigmask, uint64_t spin_ns);

/* ============================ tsord (daemon.c, client.c) ============================ */

/*
 * Runs the broker on listening Unix socket lsock until a STOP request or a
 * fatal error. Logs through lib/log. 0 or -errno.
 */
int tsor_daemon_serve(int lsock);

/*
 * The node's place among others (xport.h, relay.h): where its transport
 * listens (family 0: nowhere, it only dials) and which tsord serves which
 * pod CIDR. ops NULL: TCP.
 */
struct tsor_relay_peer_cfg;
struct tsor_xport_ops;
struct tsor_node_cfg {
	const struct tsor_xport_ops *ops;	 /* the transport, NULL = TCP */
	struct tsor_addr listen;		 /* --node-listen */
	const struct tsor_relay_peer_cfg *peers; /* --peer, npeers of them */
	size_t npeers;				 /* 0: this node only */
};

/* tsor_daemon_serve() with other nodes (cfg NULL: none). 0 or -errno. */
int tsor_daemon_serve_node(int lsock, const struct tsor_node_cfg *cfg);

/*
 * The broker without its poll loop, for tsor_daemon_serve() and for the
 * fuzzer (tests/fuzz/fuzz_tsor_msg.c), which drives it with hostile frames
 * on a socket pair, no live daemon needed. tsor_daemon_new(): the empty
 * registry, NULL on ENOMEM. tsor_daemon_add(): takes a connected Unix
 * stream socket as a client (closed when refused). tsor_daemon_serve_one():
 * reads and serves one request of client i (blocking), false when the
 * client was dropped (EOF, bad frame; the last client then moves to i).
 * tsor_daemon_stopping(): a STOP was served. tsor_daemon_free(): drops
 * every client, intent and registration.
 */
struct tsor_daemon;
struct tsor_daemon *tsor_daemon_new(void);
void tsor_daemon_add(struct tsor_daemon *d, int fd);
bool tsor_daemon_serve_one(struct tsor_daemon *d, size_t i);
bool tsor_daemon_stopping(const struct tsor_daemon *d);
/* Joins other nodes (before serving); -EBUSY when already done. 0 or -errno.
 * The node transport listens on return: tsord calls it before --daemon
 * forks, so that a --node-listen it cannot use fails the start. */
int tsor_daemon_node(struct tsor_daemon *d, const struct tsor_node_cfg *cfg);
/* The poll loop of tsor_daemon_serve_node() on d (which stays the caller's
 * to free), until a STOP or a fatal error. 0 or -errno. */
int tsor_daemon_run(struct tsor_daemon *d, int lsock);
void tsor_daemon_free(struct tsor_daemon *d);

/*
 * Creates tsord's listening socket at path: makes the parent directory
 * (0755), refuses with -EADDRINUSE when a tsord answers there, replaces a
 * stale socket file, and opens the socket to every local user (0666; the
 * ownership proofs, not the file mode, protect connections). 0 or -errno.
 */
int tsor_daemon_listen(const char *path, int *lsock);

/*
 * (Since the security review, superseding the above where they differ.)
 * tsor_daemon_listen() creates the directory 0700 (0755 for root) and
 * refuses one that tsor_dir_check() rejects. tsor_dir_check(): dir must be
 * a real directory (lstat: no symlink) owned by our euid or root, not
 * writable by group or others unless root's and sticky. 0, -ENOTDIR,
 * -EACCES or -errno. tsor_unix_connect() refuses (-EPERM) a tsord whose
 * SO_PEERCRED uid is neither ours nor root. Client sockets of tsord are
 * non-blocking: tsor_daemon_serve_one() does one read of what is queued
 * and serves a request only once its whole frame has arrived.
 */
int tsor_dir_check(const char *dir);

/* Connects to tsord at path (blocking, close-on-exec). fd or -errno. */
int tsor_unix_connect(const char *path);

/*
 * One request/reply: sends m (with sendfd attached when >= 0) and, unless
 * the type has no reply (CLOSED, FALLBACK), receives the reply into *reply
 * and its fds into fds/nfds (may be NULL when none are expected: any
 * received are closed). Returns the reply's status (0 or -errno from
 * tsord) or a transport -errno; *reply is valid when the transport worked.
 */
int tsor_call(int sock, struct tsor_msg *m, int sendfd, struct tsor_msg *reply, int *fds,
	      int *nfds);

#endif /* TSOR_TSOR_INT_H */
