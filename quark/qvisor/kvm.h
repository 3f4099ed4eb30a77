/* SPDX-License-Identifier: MIT */
/*
 * The thin layer over /dev/kvm that QVisor builds on: open the device,
 * check the API version and the capabilities, create a VM with one memory
 * slot and one vCPU, and tear it all down. Every step is probed: a missing
 * capability is reported by name, never assumed (the brief's PVM host, for
 * one, rejects MWAIT exit-disabling that hardware KVM accepts).
 *
 * Functions return 0 or a negative errno and describe what failed in the
 * caller's error buffer (`KVM_CREATE_VM: Cannot allocate memory`).
 */
#ifndef QUARK_QVISOR_KVM_H
#define QUARK_QVISOR_KVM_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/kvm.h>

/* One VM with one vCPU and one memory slot at guest-physical 0. */
struct qv_kvm {
	int sys_fd;	     /* /dev/kvm, or -1 */
	int vm_fd;	     /* KVM_CREATE_VM, or -1 */
	int vcpu_fd;	     /* KVM_CREATE_VCPU, or -1 */
	struct kvm_run *run; /* the vCPU's shared run structure, or NULL */
	size_t run_size;     /* its mapping's length (KVM_GET_VCPU_MMAP_SIZE) */
	void *mem;	     /* guest memory, or NULL */
	size_t mem_size;     /* its length */
	int api_version;     /* KVM_GET_API_VERSION */
};

/* A capability QVisor asks about, with the value the host reported. */
struct qv_kvm_cap {
	long id;	  /* KVM_CAP_* */
	const char *name; /* without the KVM_CAP_ prefix */
	const char *why;  /* what QVisor needs it for */
	int min;	  /* the smallest acceptable value, or 0 if only informative */
	int value;	  /* KVM_CHECK_EXTENSION's answer (0 = absent) */
};

/* Sets every descriptor to "none", so qv_kvm_close() is safe at any point. */
void qv_kvm_init(struct qv_kvm *k);

/*
 * Opens the KVM device at path (normally /dev/kvm) and checks the API
 * version. err gets "path: reason" or the version mismatch.
 */
int qv_kvm_open(struct qv_kvm *k, const char *path, char *err, size_t errlen);

/*
 * Asks the device about each capability in caps[0..n) (filling .value) and
 * fails with -ENOTSUP on the first required one below its minimum.
 */
int qv_kvm_probe_caps(struct qv_kvm *k, struct qv_kvm_cap *caps, size_t n, char *err,
		      size_t errlen);

/*
 * Copies the capability table `quark check` uses into out[0..max) and
 * returns its length (the whole table's, which may exceed max).
 */
size_t qv_kvm_default_caps(struct qv_kvm_cap *out, size_t max);

/*
 * KVM_CREATE_VM, then mem_size bytes of anonymous memory as slot 0 at GPA 0:
 * qv_kvm_create_vm_fd(), qv_kvm_alloc_mem() and qv_kvm_set_mem() in one.
 * The first two touch different fields of k and may run on two threads at
 * once (QVisor makes the VM on one while it fills guest memory on the
 * other); the slot needs both. Each leaves what it made in k for
 * qv_kvm_close(), also when a later step fails.
 */
int qv_kvm_create_vm(struct qv_kvm *k, size_t mem_size, char *err, size_t errlen);

/* KVM_CREATE_VM on the opened device: k->vm_fd. */
int qv_kvm_create_vm_fd(struct qv_kvm *k, char *err, size_t errlen);

/* mem_size bytes of anonymous memory, not yet the VM's: k->mem, k->mem_size. */
int qv_kvm_alloc_mem(struct qv_kvm *k, size_t mem_size, char *err, size_t errlen);

/* KVM_SET_USER_MEMORY_REGION: k->mem as slot 0 at guest-physical 0. */
int qv_kvm_set_mem(struct qv_kvm *k, char *err, size_t errlen);

/*
 * KVM_CREATE_VCPU 0, maps its kvm_run, and gives it the host's supported
 * CPUID (long mode, syscall, ... as the CPU has them). *cpuid_entries gets
 * the number of leaves set.
 */
int qv_kvm_create_vcpu(struct qv_kvm *k, unsigned *cpuid_entries, char *err, size_t errlen);

/*
 * Another vCPU (id > 0) of the same VM, set up like vCPU 0: its descriptor
 * and kvm_run mapping (k->run_size bytes) are the caller's to close.
 */
int qv_kvm_add_vcpu(struct qv_kvm *k, unsigned id, int *fd, struct kvm_run **run,
		    unsigned *cpuid_entries, char *err, size_t errlen);

/* Unmaps and closes whatever exists, in reverse order (not vCPUs from qv_kvm_add_vcpu). */
void qv_kvm_close(struct qv_kvm *k);

/* The KVM_EXIT_* name of an exit reason, or "unknown". */
const char *qv_kvm_exit_name(unsigned reason);

#endif /* QUARK_QVISOR_KVM_H */
