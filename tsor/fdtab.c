/* SPDX-License-Identifier: MIT */
/*
 * The fd table (design in tsor-int.h): fd -> struct tsor_file through two
 * levels of 1024 atomic pointers, type-stable files on a free list, and
 * get-unless-zero lookups that never touch freed memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "tsor-int.h"

#define L2_BITS 10
#define L2_SIZE (1u << L2_BITS)
#define L1_SIZE 1024u /* 2^20 fds in all, the usual hard RLIMIT_NOFILE */

typedef _Atomic(struct tsor_file *) file_slot;

static _Atomic(file_slot *) table[L1_SIZE];
static struct tsor_file *free_list;
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static tsor_file_release_fn *release_fn;

void tsor_fd_set_release(tsor_file_release_fn *fn)
{
	release_fn = fn;
}

/* 0 (tsord, the tests): descriptors stay where the kernel put them. */
static int fd_floor;

void tsor_fd_set_floor(int floor)
{
	fd_floor = floor;
}

int tsor_fd_hide(int fd)
{
	int d;

	if (fd < 0 || fd_floor <= 0 || fd >= fd_floor)
		return fd;
	d = tsor__libc.fcntl(fd, F_DUPFD_CLOEXEC, fd_floor);
	if (d < 0)
		return fd; /* nothing free up there: keep it where it is */
	tsor__libc.close(fd);
	return d;
}

struct tsor_file *tsor_file_new(enum tsor_file_kind kind)
{
	struct tsor_file *f;

	pthread_mutex_lock(&free_lock);
	f = free_list;
	if (f)
		free_list = f->next;
	pthread_mutex_unlock(&free_lock);
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return NULL;
	}
	f->kind = kind;
	f->listener_id = 0;
	f->conn = NULL;
	f->ep = NULL;
	f->next = NULL;
	/* Release: a racing lookup that sees refs != 0 also sees the fields. */
	atomic_store_explicit(&f->refs, 1, memory_order_release);
	return f;
}

void tsor_file_get(struct tsor_file *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void tsor_file_put(struct tsor_file *f)
{
	/* Acq_rel: the releasing thread sees every other user's last writes. */
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (release_fn)
		release_fn(f);
	pthread_mutex_lock(&free_lock);
	f->next = free_list;
	free_list = f;
	pthread_mutex_unlock(&free_lock);
}

static file_slot *slot_of(int fd, bool create)
{
	file_slot *l2, *fresh = NULL;
	unsigned u = (unsigned)fd;

	if (fd < 0 || u >= L1_SIZE * L2_SIZE)
		return NULL;
	l2 = atomic_load_explicit(&table[u >> L2_BITS], memory_order_acquire);
	if (!l2 && create) {
		fresh = calloc(L2_SIZE, sizeof(*fresh));
		if (!fresh)
			return NULL;
		/* Release: the zeroed level is visible before its pointer. */
		if (atomic_compare_exchange_strong_explicit(&table[u >> L2_BITS], &l2, fresh,
							    memory_order_acq_rel,
							    memory_order_acquire))
			l2 = fresh;
		else
			free(fresh); /* another thread won; l2 holds its level */
	}
	return l2 ? &l2[u & (L2_SIZE - 1)] : NULL;
}

struct tsor_file *tsor_fd_get(int fd)
{
	file_slot *s = slot_of(fd, false);
	struct tsor_file *f;
	int r;

	if (!s)
		return NULL;
	for (;;) {
		f = atomic_load_explicit(s, memory_order_acquire);
		if (!f)
			return NULL;
		/* get-unless-zero: a file being recycled has refs == 0. */
		r = atomic_load_explicit(&f->refs, memory_order_relaxed);
		while (r > 0 && !atomic_compare_exchange_weak_explicit(&f->refs, &r, r + 1,
								       memory_order_acquire,
								       memory_order_relaxed))
			;
		if (r <= 0)
			continue;
		if (atomic_load_explicit(s, memory_order_acquire) == f)
			return f;
		tsor_file_put(f); /* the slot moved on while we took it */
	}
}

int tsor_fd_install(int fd, struct tsor_file *f)
{
	file_slot *s = slot_of(fd, true);
	struct tsor_file *old;

	if (!s) {
		if (f)
			tsor_file_put(f);
		return fd < 0 ? -EBADF : -EMFILE;
	}
	old = atomic_exchange_explicit(s, f, memory_order_acq_rel);
	if (old)
		tsor_file_put(old);
	return 0;
}

bool tsor_fd_remove(int fd)
{
	file_slot *s = slot_of(fd, false);
	struct tsor_file *old;

	if (!s)
		return false;
	old = atomic_exchange_explicit(s, NULL, memory_order_acq_rel);
	if (!old)
		return false;
	tsor_file_put(old);
	return true;
}

void tsor_fd_reset(void)
{
	for (int i = 0; i < (int)(L1_SIZE * L2_SIZE); i += (int)L2_SIZE) {
		if (!atomic_load(&table[(unsigned)i >> L2_BITS]))
			continue;
		for (int j = i; j < i + (int)L2_SIZE; j++)
			tsor_fd_remove(j);
	}
}
