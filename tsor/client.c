/* SPDX-License-Identifier: MIT */
/*
 * The client half of the tsord protocol (shared by libtsor.so and the CLI)
 * and the creation of tsord's socket. Everything goes through tsor__libc,
 * so inside the preload these calls never re-enter the interposers.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tsor-int.h"

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	size_t n = strlen(path);

	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/*
 * Whoever answers at the socket path gets our sockets and hands us the
 * memory our connections run through, so it must be us or root: another
 * user's "tsord" (a squatted directory, a TSOR_SOCK pointing elsewhere)
 * could read and inject any accelerated stream. Said once per process on
 * stderr (the library has no log of its own); the caller then stays on
 * kernel TCP.
 */
static int check_peer(int fd, const char *path)
{
	static atomic_bool warned;
	struct ucred cr = { 0 };
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (cr.uid == 0 || cr.uid == geteuid())
		return 0;
	if (!atomic_exchange(&warned, true)) {
		char msg[256];
		int n = snprintf(msg, sizeof(msg),
				 "tsor: %s is served by uid %u, neither root nor us (uid %u): "
				 "not trusted, staying on kernel TCP\n",
				 path, (unsigned)cr.uid, (unsigned)geteuid());

		if (n > 0)
			(void)!write(STDERR_FILENO, msg,
				     (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	}
	return -EPERM;
}

int tsor_unix_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, ret;

	ret = unix_addr(path, &sa);
	if (ret)
		return ret;
	fd = tsor__libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (tsor__libc.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		ret = -errno;
		tsor__libc.close(fd);
		return ret;
	}
	ret = check_peer(fd, path);
	if (ret) {
		tsor__libc.close(fd);
		return ret;
	}
	return fd;
}

int tsor_call(int sock, struct tsor_msg *m, int sendfd, struct tsor_msg *reply, int *fds, int *nfds)
{
	int got[TSOR_MAX_FDS], ngot = 0, ret;

	if (nfds)
		*nfds = 0;
	ret = tsor_msg_send(sock, m, &sendfd, sendfd >= 0 ? 1 : 0);
	if (ret)
		return ret;
	if (m->type == TSOR_MSG_CLOSED || m->type == TSOR_MSG_FALLBACK)
		return 0;
	ret = tsor_msg_recv(sock, reply, got, &ngot);
	if (ret)
		return ret;
	if (reply->type != m->type) {
		ret = -EPROTO;
		goto err_close;
	}
	if (reply->status == 0 && fds && nfds) {
		memcpy(fds, got, sizeof(int) * (size_t)ngot);
		*nfds = ngot;
		return 0;
	}
	ret = reply->status;
err_close:
	for (int i = 0; i < ngot; i++)
		tsor__libc.close(got[i]);
	return ret;
}

int tsor_dir_check(const char *dir)
{
	struct stat st;
	uid_t me = geteuid();

	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR; /* a symlink, or something else squatting the name */
	if (st.st_uid != me && st.st_uid != 0)
		return -EACCES; /* another user's: they could swap the socket */
	/* Writable by others: they could replace the socket with theirs. A
	 * root-owned sticky directory (/tmp) is fine: nobody else can remove
	 * or rename what we create in it. */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_uid == 0 && (st.st_mode & S_ISVTX)))
		return -EACCES;
	return 0;
}

int tsor_daemon_listen(const char *path, int *lsock)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_un sa;
	char *slash;
	int fd, ret;

	ret = unix_addr(path, &sa);
	if (ret)
		return ret;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		/* Root's tsord serves every user (the ownership proofs and
		 * SO_PEERCRED checks protect them); a user's only that user. */
		if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
			return -errno;
		ret = tsor_dir_check(dir);
		if (ret)
			return ret;
	}
	fd = tsor_unix_connect(path);
	if (fd >= 0 || fd == -EPERM) {
		if (fd >= 0)
			tsor__libc.close(fd);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 128) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*lsock = fd;
	return 0;
}
