// SPDX-License-Identifier: MIT
/*
 * The little of a C library QKernel needs: the memory and string functions
 * the compiler may call on its own, a formatter for diagnostics, panic, and
 * the hypercall. No floating point, no locale, no allocation.
 */
#include "kernel.h"

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ __volatile__("rep movsb" : "+D"(d), "+S"(src), "+c"(n)::"memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ __volatile__("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

struct out {
	char *buf;
	size_t len, pos;
};

static void put(struct out *o, char c)
{
	if (o->pos + 1 < o->len)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_num(struct out *o, uint64_t v, unsigned base, int width, char pad, bool neg)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		put(o, pad);
	while (n)
		put(o, tmp[--n]);
}

/* %s %c %d %i %u %x %p %%, with l/ll/z, a width and the 0 flag. */
int qk_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct out o = { buf, len, 0 };

	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		char pad = ' ';

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0', fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z')
			lng++, fmt++;
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);

			for (s = s ? s : "(null)"; *s; s++)
				put(&o, *s);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);

			put_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			put_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width,
				pad, false);
			break;
		case 'x':
			put_num(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width,
				pad, false);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, 0, ' ', false);
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '?');
			if (!*fmt)
				fmt--;
			break;
		}
	}
	if (len)
		buf[o.pos < len ? o.pos : len - 1] = 0;
	return (int)o.pos;
}

int qk_snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = qk_vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

/*
 * One hypercall block per vCPU (struct qk_cpu), used by one call at a time.
 * With the queue (abi.h, "The queue"), the block is published in the ring
 * and the host's worker answers while this vCPU spins on `state`; without
 * it, or for the operations that block only the calling vCPU (abi.h,
 * "Several vCPUs"), an `outl` hands the block to the vCPU's own thread.
 * The kernel lock is never held across a host call (smp.c): it is dropped
 * first and taken again after.
 */
static uint32_t queue_lock; /* producers of the ring: one per vCPU */

static uint64_t spin_cycles(void)
{
	/* Without a known TSC rate, assume 1 GHz: the bound only needs to be rough. */
	uint64_t khz = qk_boot->tsc_khz ? qk_boot->tsc_khz : 1000000;

	return khz * QUARK_QUEUE_SPIN_US / 1000;
}

static int64_t hcall_queued(struct quark_hcall *hc)
{
	struct quark_queue *q = qk_kva(QUARK_QUEUE_GPA);
	uint32_t tail;

	__atomic_store_n(&hc->state, QUARK_STATE_PENDING, __ATOMIC_RELAXED);
	/* At most one block per vCPU is in the ring, far fewer than its entries. */
	while (__atomic_exchange_n(&queue_lock, 1, __ATOMIC_ACQUIRE))
		__asm__ __volatile__("pause");
	tail = q->sq_tail;
	q->entries[tail % QUARK_QUEUE_ENTRIES] = qk_gpa(hc);
	__atomic_store_n(&q->sq_tail, tail + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&queue_lock, 0, __ATOMIC_RELEASE);
	/* Pairs with the worker's barrier between host_idle = 1 and its re-check of sq_tail. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&q->host_idle, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&qk_stats.kicks, 1, __ATOMIC_RELAXED);
		__asm__ __volatile__("outl %0, %1" ::"a"(0), "Nd"((uint16_t)QUARK_HC_KICK)
				     : "memory");
	}
	/*
	 * Spin briefly: an awake worker on another CPU answers in about a
	 * microsecond. Past that the worker is asleep, busy with a slow call,
	 * or shares this vCPU's host CPU, where spinning would only keep it
	 * off until the scheduler's next tick: hand the wait to the host.
	 */
	for (uint64_t t0 = rdtsc(), budget = spin_cycles();
	     __atomic_load_n(&hc->state, __ATOMIC_ACQUIRE) != QUARK_STATE_DONE;) {
		if (rdtsc() - t0 > budget) {
			__atomic_fetch_add(&qk_stats.waits, 1, __ATOMIC_RELAXED);
			__asm__ __volatile__("outl %0, %1" ::"a"((uint32_t)qk_gpa(hc)),
					     "Nd"((uint16_t)QUARK_HC_WAIT)
					     : "memory");
			continue;
		}
		__asm__ __volatile__("pause");
	}
	return hc->ret;
}

/* The operations the calling vCPU's own host thread performs (they may block it). */
static bool direct_op(uint32_t op)
{
	return op == QUARK_OP_EXIT || op == QUARK_OP_FUTEX || op == QUARK_OP_CPU_START ||
	       op == QUARK_OP_CPU_PARK || op == QUARK_OP_NANOSLEEP || op == QUARK_OP_ALARM;
}

int64_t qk_hcall(uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		 uint64_t a5)
{
	struct qk_cpu *c = qk_this_cpu();
	struct quark_hcall *hc = &c->hc;
	bool held = c->locked;
	int64_t ret;

	hc->op = op;
	hc->ret = -ENOSYS;
	hc->args[0] = a0;
	hc->args[1] = a1;
	hc->args[2] = a2;
	hc->args[3] = a3;
	hc->args[4] = a4;
	hc->args[5] = a5;
	__atomic_fetch_add(&qk_stats.forwarded, 1, __ATOMIC_RELAXED);
	if (held)
		qk_kernel_drop(c, op == QUARK_OP_READV || op == QUARK_OP_WRITEV ||
					  op == QUARK_OP_PREADV || op == QUARK_OP_PWRITEV);
	if ((qk_boot->flags & QUARK_BOOT_QUEUE) && !direct_op(op)) {
		ret = hcall_queued(hc);
	} else {
		hc->state = QUARK_STATE_PENDING;
		/* The host reads the block during the exit; "memory" orders the stores before it.
		 */
		__asm__ __volatile__("outl %0, %1" ::"a"((uint32_t)qk_gpa(hc)),
				     "Nd"((uint16_t)QUARK_HC_CALL)
				     : "memory");
		ret = hc->ret;
	}
	if (held)
		qk_kernel_retake(c);
	return ret;
}

static char panic_buf[QUARK_PANIC_MAX];

void qk_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	qk_vsnprintf(panic_buf, sizeof(panic_buf), fmt, ap);
	va_end(ap);
	for (;;)
		__asm__ __volatile__("outl %0, %1" ::"a"((uint32_t)qk_gpa(panic_buf)),
				     "Nd"((uint16_t)QUARK_HC_PANIC)
				     : "memory");
}

void qk_debug(const char *fmt, ...)
{
	static char buf[512];
	struct quark_seg seg;
	va_list ap;
	int n;

	if (!(qk_boot->flags & QUARK_BOOT_VERBOSE))
		return;
	va_start(ap, fmt);
	n = qk_vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	seg.gpa = qk_gpa(buf);
	seg.len = (uint64_t)n;
	qk_hcall(QUARK_OP_WRITEV, 2, qk_gpa(&seg), 1, 0, 0, 0);
}
