/* SPDX-License-Identifier: MIT */
/*
 * QVisor's last line of defence: once the VM is built and the files are
 * open, a seccomp filter (compiled by libseccomp at build time: seccomp.c)
 * leaves the process only the system calls that running the vCPUs, serving
 * qv_fwd_call(), printing and exiting need. A QVisor that a hostile guest
 * somehow took over can then still not exec, open a socket, ptrace, mount,
 * or open a file other than through openat2 (which qv_fwd_call() always
 * scopes to the root). Anything else
 * kills the whole process (SCMP_ACT_KILL_PROCESS): a compromised VMM must
 * not get an errno to probe with.
 */
#ifndef QUARK_QVISOR_SECCOMP_H
#define QUARK_QVISOR_SECCOMP_H

#include <stddef.h>

/*
 * Sets no_new_privs and installs the filter on every thread of the process
 * (TSYNC), irrevocably. ioctl is allowed for KVM_RUN, KVM_GET_REGS,
 * KVM_GET_SREGS and KVM_INTERRUPT (the vCPU loop) and TCGETS and
 * TIOCGWINSZ (qv_fwd_call()); any other request kills. Call it after
 * everything that opens, creates or maps (qv_fwd_open(), the VM, vCPU and
 * worker threads, eventfds) is done. Returns 0, or -errno with a sentence
 * in err.
 */
int qv_seccomp_lockdown(char *err, size_t errlen);

/*
 * The names of the system calls the filter allows, NULL-terminated (some
 * only with restricted arguments: ioctl by request, mmap and mprotect
 * without PROT_EXEC, fcntl with F_GETFL/F_SETFL). For tests and --verbose.
 * The list is static: safe to call at any time, also after lockdown.
 */
const char *const *qv_seccomp_allowlist(void);

#endif /* QUARK_QVISOR_SECCOMP_H */
