# mmu2d cost profile: arm64
# name = value  # source: a REFERENCE.md id, or "fitted"
# Units are given in lib/core/costs.def. Keep one parameter per line; modules append their groups.
# core: engine primitives (lib/core/costs.def; docs/cost-model.md "core")
lock_acquire = 10  # fitted: one uncontended atomic RMW on a cache-hot line (~25 cycles)
lock_handoff = 70  # fitted: cache-line transfer to a waiter on the same node
lock_handoff_hop = 8  # fitted: extra handoff ns per SLIT unit above 10 (remote socket ~ +88 ns)
rwlock_read_bounce = 40  # fitted: shared reader-count line bouncing between readers
sleep_wakeup = 4000  # fitted: futex/scheduler wake-up to running on an idle CPU
context_switch = 1500  # fitted: host scheduler context switch
rcu_gp = 3000000  # fitted: grace-period latency after the last pre-existing reader (HZ=1000 tick-driven GP)
ipi_send = 80  # fitted: sender cost per target (csd queueing + x2APIC ICR write)
ipi_receive = 800  # fitted: interrupt entry + flush handler dispatch + exit on a host-mode target
ipi_ack_wait = 1200  # fitted: cross-CPU round trip until the last csd is released
tlb_flush_local_all = 40  # TLB-IM-01: __flush_tlb() 96 cycles (cycles of the x86 measurement, the closest published number; arm64 TLBI VMALLE1+DSB is of the same order)
tlb_flush_local_page = 100  # TLB-IM-04: about 100 ns per single-page flush (INVLPG)
vm_exit = 1000  # fitted: VM exit + re-entry round trip of an interrupted vCPU
