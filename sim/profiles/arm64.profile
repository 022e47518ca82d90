# mmu2d cost profile: arm64
# name = value  # source: a REFERENCE.md id, or "fitted"
# Units are given in lib/core/costs.def. Keep one parameter per line; modules append their groups.
# core: engine primitives (lib/core/costs.def; docs/cost-model.md "core")
lock_acquire = 10  # fitted: one uncontended atomic RMW on a cache-hot line (~25 cycles)
lock_handoff = 207.7  # fitted: PFN-STOP-arm64-run1; cache-line transfer between cores on one node (mmu_lock and mmap_lock words, 2 RMWs each per fault)
lock_handoff_queued = 207.7  # fitted (as lock_handoff: no point of this host separates a queued exclusive handoff from a line transfer)
lock_handoff_hop = 8  # fitted: extra handoff ns per SLIT unit above 10 (remote socket ~ +88 ns)
sleep_wakeup = 4000  # fitted: futex/scheduler wake-up to running on an idle CPU
context_switch = 1500  # fitted: host scheduler context switch
rcu_gp = 3000000  # fitted: grace-period latency after the last pre-existing reader (HZ=1000 tick-driven GP)
ipi_send = 80  # fitted: sender cost per target (csd queueing + x2APIC ICR write)
ipi_receive = 800  # fitted: interrupt entry + flush handler dispatch + exit on a host-mode target
ipi_ack_wait = 1200  # fitted: cross-CPU round trip until the last csd is released
tlb_flush_local_all = 40  # TLB-IM-01: __flush_tlb() 96 cycles (cycles of the x86 measurement, the closest published number; arm64 TLBI VMALLE1+DSB is of the same order)
tlb_flush_local_page = 100  # TLB-IM-04: about 100 ns per single-page flush (INVLPG)
vm_exit = 1000  # fitted: VM exit + re-entry round trip of an interrupted vCPU
srcu_expedited_gp = 30000  # fitted (as x86): no reference point of this host exercises it
# coco: SEV-SNP RMP and guest_memfd
rmpupdate = 1200  # fitted
psmash = 2000  # fitted
pvalidate = 800  # fitted
rmp_entry_read = 5  # fitted
clflush = 40  # fitted
gmem_zero = 116.9  # fitted (no arm64 clearing row; CLR-ICX-2MB-base value; unused: no SNP on arm64)
gmem_folio_lookup = 150  # fitted
# kvm: fault path, zaps, flushes, exits
kvm_exit_entry = 1200  # fitted
kvm_fault_overhead = 1500  # fitted
kvm_mmu_page_alloc = 500  # fitted
kvm_spte_cmpxchg = 20  # fitted
kvm_spte_write = 60  # fitted
kvm_set_pfn_ad = 0  # n/a: arm64 stage-2 unmap does not touch the struct page (dirty is set at fault time)
kvm_tdp_iter_step = 5  # fitted
kvm_gup_fast = 100  # fitted
kvm_memslot_visit = 30  # fitted
kvm_remote_flush_req = 100  # fitted
kvm_make_request = 20  # fitted
kvm_tlb_flush_guest = 500  # fitted
kvm_userspace_exit = 2000  # fitted
kvm_xa_store = 50  # fitted
kvm_guest_access = 25.8  # PFN-STOP-arm64-run2: 0.018020005 s / 699,050 stores per vCPU
kvm_dirty_bitmap_word = 5  # fitted
kvm_pml_full_exit = 3000  # fitted
kvm_s2_tlbi = 200  # fitted (arm64 only)
kvm_s2_tlbi_block = 200  # fitted (as kvm_s2_tlbi: no reference point of this host tells a block's invalidation from a page's)
kvm_s2_tlbi_vmid = 500  # fitted (arm64 only)
kvm_s2_dcache_cmo = 300  # fitted (arm64 only; PFN-STOP-arm64-ro bounds TLBI + 4 x CMO per page)
kvm_s2_cmo_membw = 0  # fitted (unlimited: no reference point of this host is bound by memory bandwidth)
kvm_s2_fwb = 0  # PFN-STOP-arm64-ro host: no FEAT_FWB (O. Upton)
kvm_s2_tlbirange = 0  # PFN-STOP-arm64-ro host: no FEAT_FWB (O. Upton), an ARMv8.2 part, so no FEAT_TLBIRANGE (v8.4) either
kvm_rwlock_needbreak = 0  # fitted: host preemption model voluntary/none (rwlock_needbreak() returns 0)
kvm_rmap_head = 2  # fitted: sequential scan of 8-byte rmap heads (8 per cache line, prefetched) + the loop and the empty check
kvm_rmap_add = 10  # fitted: pte_list_add into an empty 4K rmap head (one store; the heads are sequential, prefetched) + rmap lookup
kvm_ack_kick = 0  # fitted: ack_kick (virt/kvm/kvm_main.c) has an empty body; delivery and the exit are ipi_receive + vm_exit
kvm_s2_tlbi_nsh = 50  # fitted: local (non-shareable) TLBI + DSB NSH, no broadcast to the inner-shareable domain (vs kvm_s2_tlbi = 200)
kvm_mmu_page_hash_node = 0  # n/a on arm64 (no shadow MMU)
kvm_guest_set_dirty = 0  # n/a on arm64 (stage-2 dirty state is tracked by write-protection, no D bit)
kvm_mmu_set_spte = 0  # n/a on arm64 (no shadow MMU)
kvm_split_spte = 60  # fitted (the kvm_spte_write value of this profile; x86 TDP split only)
kvm_tdp_walk_start = 0  # n/a: charged for the x86 TDP MMU only (arm64 kvm_pgtable_walk is charged per entry)
kvm_rmap_spte_update = 0  # n/a: x86 shadow MMU (tdp_mmu=N) only
kvm_gpte_read = 0  # n/a on arm64 (no shadow paging)
kvm_gpte_cmpxchg = 0  # n/a on arm64 (no shadow paging)
kvm_account_shadowed = 0  # n/a on arm64 (no shadow paging)
# mm: physical memory
buddy_alloc = 150  # fitted
buddy_free = 100  # fitted
# mm: direct map and CPA
cpa_call = 150  # fitted
cpa_lookup = 25  # fitted
cpa_pte_write = 20  # fitted
cpa_table_alloc = 300  # fitted
cpa_split_entry = 2  # fitted
cpa_collapse_entry = 1  # fitted
# guest: guest kernel model
guest_page_alloc = 60  # fitted
guest_page_free = 200  # fitted
guest_psc_entry = 10  # fitted
guest_page_fault = 1000  # fitted
vmm_timer_slack = 50000  # kernel-default timer_slack_ns (init_task: 50 us), not fitted
vmm_poll_sleep = 100000  # selftest-code: mmu_stress_test.c rendezvous_with_vcpus() usleep(100), not fitted
vmm_set_attr_ioctl = 1000  # fitted
# mm: host process address spaces (lib/mm/mm.c, memory.c, gup.c, mprotect.c, hugetlb.c, shmem.c)
mm_fault = 800  # fitted
mm_clear_page = 116.9  # fitted (no arm64 clearing row; x86 value)
mm_gup_fast = 60  # fitted
mm_gup_slow = 300  # fitted
mm_put_page = 20  # fitted
mm_syscall = 300  # fitted
mm_vma_modify = 500  # fitted
mm_pte_visit = 2  # fitted
mm_pte_update = 15  # fitted
mm_pt_alloc = 500  # fitted
mm_pt_free = 100  # fitted
mm_notifier_call = 50  # fitted
mapcount_atomic_distinct = 40  # fitted (HGM-02: these dominate THP-like MADV_COLLAPSE)
mapcount_atomic = 20  # fitted
mm_pagecache_lookup = 40  # fitted
mm_copy_page = 150  # fitted
cpa_vm_unmap_aliases = 300  # fitted
