// SPDX-License-Identifier: MIT
/*
 * qtrue: /bin/true as a static glibc program, for the start-up benchmark
 * (bench/quark/run.sh): glibc's start-up (brk, arch_prctl, set_tid_address,
 * TLS, ...) and an exit_group(0), nothing else. Built like qbench.
 */
int main(void)
{
	return 0;
}
