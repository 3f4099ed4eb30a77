/* SPDX-License-Identifier: MIT */
/*
 * The libc table for programs that are not the preload (tsord, the CLI,
 * the unit tests): libc's own functions. Kept in its own object so that
 * libtsor.so, which never references it, does not link it: there these
 * names would bind to the interposers themselves.
 */
#include <fcntl.h>
#include <unistd.h>

#include "tsor-int.h"

void tsor_libc_direct(void)
{
	tsor__libc = (struct tsor_libc){
		.socket = socket,
		.bind = bind,
		.listen = listen,
		.accept4 = accept4,
		.connect = connect,
		.close = close,
		.shutdown = shutdown,
		.read = read,
		.recvfrom = recvfrom,
		.sendmsg = sendmsg,
		.recvmsg = recvmsg,
		.poll = poll,
		.ppoll = ppoll,
		.epoll_create1 = epoll_create1,
		.epoll_ctl = epoll_ctl,
		.epoll_wait = epoll_wait,
		.getsockname = getsockname,
		.getpeername = getpeername,
		.fcntl = fcntl,
	};
}
