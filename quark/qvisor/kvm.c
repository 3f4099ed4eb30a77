// SPDX-License-Identifier: MIT
/*
 * /dev/kvm, VM, memory slot and vCPU (see kvm.h). The sequence is the one
 * kvmtool and Solo5 hvt use; the differences are that every capability is
 * asked for by name and every failure is turned into a sentence.
 */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

void qv_kvm_init(struct qv_kvm *k)
{
	memset(k, 0, sizeof(*k));
	k->sys_fd = -1;
	k->vm_fd = -1;
	k->vcpu_fd = -1;
}

int qv_kvm_open(struct qv_kvm *k, const char *path, char *err, size_t errlen)
{
	int fd, ver, rc;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "%s: %s", path, log_errstr(rc));
		return rc;
	}
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "%s: KVM_GET_API_VERSION: %s (not a KVM device?)", path,
			   log_errstr(rc));
		goto err_close;
	}
	if (ver != KVM_API_VERSION) {
		rc = -ENOTSUP;
		errbuf_set(err, errlen, "%s: KVM API version %d (QVisor speaks %d)", path, ver,
			   KVM_API_VERSION);
		goto err_close;
	}
	k->sys_fd = fd;
	k->api_version = ver;
	return 0;

err_close:
	close(fd);
	return rc;
}

size_t qv_kvm_default_caps(struct qv_kvm_cap *out, size_t max)
{
	static const struct qv_kvm_cap caps[] = {
		{ KVM_CAP_USER_MEMORY, "USER_MEMORY", "guest memory from the VMM's mmap", 1, 0 },
		{ KVM_CAP_NR_MEMSLOTS, "NR_MEMSLOTS", "memory slots (one per region)", 1, 0 },
		{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT", "stopping a vCPU from a signal", 1, 0 },
		{ KVM_CAP_MAX_VCPUS, "MAX_VCPUS", "vCPUs per VM", 1, 0 },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID", "giving the guest long mode and syscall in CPUID",
		  1, 0 },
		{ KVM_CAP_NR_VCPUS, "NR_VCPUS", "recommended vCPUs per VM", 0, 0 },
		{ KVM_CAP_X86_DISABLE_EXITS, "X86_DISABLE_EXITS",
		  "idle vCPUs without exits (bitmask of HLT, MWAIT, PAUSE, CSTATE)", 0, 0 },
		{ KVM_CAP_SYNC_REGS, "SYNC_REGS", "registers in kvm_run without ioctls", 0, 0 },
		{ KVM_CAP_IOEVENTFD, "IOEVENTFD", "doorbells without a vCPU exit to user space", 0,
		  0 },
		{ KVM_CAP_IRQFD, "IRQFD", "interrupts from host workers", 0, 0 },
		{ KVM_CAP_READONLY_MEM, "READONLY_MEM", "read-only guest memory", 0, 0 },
		{ KVM_CAP_NESTED_STATE, "NESTED_STATE", "nested virtualisation state", 0, 0 },
	};

	const size_t n = sizeof(caps) / sizeof(caps[0]);

	memcpy(out, caps, (n < max ? n : max) * sizeof(caps[0]));
	return n;
}

int qv_kvm_probe_caps(struct qv_kvm *k, struct qv_kvm_cap *caps, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int v = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, caps[i].id);

		/* A KVM that does not know a capability answers 0 (or fails); both mean absent. */
		caps[i].value = v < 0 ? 0 : v;
	}
	for (size_t i = 0; i < n; i++) {
		if (caps[i].min > 0 && caps[i].value < caps[i].min) {
			errbuf_set(err, errlen, "KVM lacks KVM_CAP_%s (%s)", caps[i].name,
				   caps[i].why);
			return -ENOTSUP;
		}
	}
	return 0;
}

int qv_kvm_alloc_mem(struct qv_kvm *k, size_t mem_size, char *err, size_t errlen)
{
	void *mem;
	int rc;

	mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		rc = -errno;
		errbuf_set(err, errlen, "guest memory (%zu bytes): %s", mem_size, log_errstr(rc));
		return rc;
	}
	k->mem = mem;
	k->mem_size = mem_size;
	return 0;
}

int qv_kvm_create_vm_fd(struct qv_kvm *k, char *err, size_t errlen)
{
	int fd, rc;

	fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (fd == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_CREATE_VM: %s", log_errstr(rc));
		return rc;
	}
	k->vm_fd = fd;
	return 0;
}

int qv_kvm_set_mem(struct qv_kvm *k, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region region;
	int rc;

	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = k->mem_size;
	region.userspace_addr = (uintptr_t)k->mem;
	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", log_errstr(rc));
		return rc;
	}
	return 0;
}

int qv_kvm_create_vm(struct qv_kvm *k, size_t mem_size, char *err, size_t errlen)
{
	int rc = qv_kvm_create_vm_fd(k, err, errlen);

	if (rc == 0)
		rc = qv_kvm_alloc_mem(k, mem_size, err, errlen);
	if (rc == 0)
		rc = qv_kvm_set_mem(k, err, errlen);
	return rc;
}

/* KVM_GET_SUPPORTED_CPUID with a table grown until it fits (E2BIG). */
static int get_supported_cpuid(int sys_fd, struct kvm_cpuid2 **out, char *err, size_t errlen)
{
	for (unsigned nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c;
		int rc;

		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c) {
			errbuf_set(err, errlen, "CPUID table: %s", log_errstr(ENOMEM));
			return -ENOMEM;
		}
		c->nent = nent;
		if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		rc = -errno;
		free(c);
		if (rc != -E2BIG) {
			errbuf_set(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", log_errstr(rc));
			return rc;
		}
	}
	errbuf_set(err, errlen, "KVM_GET_SUPPORTED_CPUID: more than 4096 leaves");
	return -E2BIG;
}

int qv_kvm_add_vcpu(struct qv_kvm *k, unsigned id, int *fd_out, struct kvm_run **run_out,
		    unsigned *cpuid_entries, char *err, size_t errlen)
{
	struct kvm_cpuid2 *cpuid = NULL;
	struct kvm_run *run;
	int fd, size, rc;

	size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", log_errstr(rc));
		return rc;
	}
	if ((size_t)size < sizeof(struct kvm_run)) {
		errbuf_set(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %d bytes, less than kvm_run",
			   size);
		return -EPROTO;
	}
	fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (fd == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_CREATE_VCPU: %s", log_errstr(rc));
		return rc;
	}
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		rc = -errno;
		errbuf_set(err, errlen, "mmap of kvm_run: %s", log_errstr(rc));
		goto err_close;
	}
	rc = get_supported_cpuid(k->sys_fd, &cpuid, err, errlen);
	if (rc < 0 || !cpuid)
		goto err_unmap;
	if (ioctl(fd, KVM_SET_CPUID2, cpuid) == -1) {
		rc = -errno;
		errbuf_set(err, errlen, "KVM_SET_CPUID2: %s", log_errstr(rc));
		goto err_free;
	}
	*cpuid_entries = cpuid->nent;
	free(cpuid);
	*fd_out = fd;
	*run_out = run;
	k->run_size = (size_t)size;
	return 0;

err_free:
	free(cpuid);
err_unmap:
	munmap(run, (size_t)size);
err_close:
	close(fd);
	return rc;
}

int qv_kvm_create_vcpu(struct qv_kvm *k, unsigned *cpuid_entries, char *err, size_t errlen)
{
	return qv_kvm_add_vcpu(k, 0, &k->vcpu_fd, &k->run, cpuid_entries, err, errlen);
}

void qv_kvm_close(struct qv_kvm *k)
{
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->vcpu_fd >= 0)
		close(k->vcpu_fd);
	if (k->mem)
		munmap(k->mem, k->mem_size);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	qv_kvm_init(k);
}

const char *qv_kvm_exit_name(unsigned reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN:
		return "KVM_EXIT_UNKNOWN";
	case KVM_EXIT_EXCEPTION:
		return "KVM_EXIT_EXCEPTION";
	case KVM_EXIT_IO:
		return "KVM_EXIT_IO";
	case KVM_EXIT_HYPERCALL:
		return "KVM_EXIT_HYPERCALL";
	case KVM_EXIT_DEBUG:
		return "KVM_EXIT_DEBUG";
	case KVM_EXIT_HLT:
		return "KVM_EXIT_HLT";
	case KVM_EXIT_MMIO:
		return "KVM_EXIT_MMIO";
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return "KVM_EXIT_IRQ_WINDOW_OPEN";
	case KVM_EXIT_SHUTDOWN:
		return "KVM_EXIT_SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY:
		return "KVM_EXIT_FAIL_ENTRY";
	case KVM_EXIT_INTR:
		return "KVM_EXIT_INTR";
	case KVM_EXIT_SET_TPR:
		return "KVM_EXIT_SET_TPR";
	case KVM_EXIT_TPR_ACCESS:
		return "KVM_EXIT_TPR_ACCESS";
	case KVM_EXIT_NMI:
		return "KVM_EXIT_NMI";
	case KVM_EXIT_INTERNAL_ERROR:
		return "KVM_EXIT_INTERNAL_ERROR";
	case KVM_EXIT_SYSTEM_EVENT:
		return "KVM_EXIT_SYSTEM_EVENT";
	case KVM_EXIT_X86_RDMSR:
		return "KVM_EXIT_X86_RDMSR";
	case KVM_EXIT_X86_WRMSR:
		return "KVM_EXIT_X86_WRMSR";
	default:
		return "unknown";
	}
}
