# mmu2d cost profile: x86-2022
# name = value  # source: a REFERENCE.md id, or "fitted"
# Units are given in lib/core/costs.def. Keep one parameter per line; modules append their groups.
# core: engine primitives (lib/core/costs.def; docs/cost-model.md "core")
lock_acquire = 10  # fitted: one uncontended atomic RMW on a cache-hot line (~25 cycles)
lock_handoff = 58.5  # fitted: EPS1-05-N; cache-line transfer to a waiter on the same node (96 vCPUs x 2 RMWs per fault saturate the mmu_lock line)
lock_handoff_queued = 58.5  # fitted (as lock_handoff: no point of this host separates a queued exclusive handoff from a line transfer)
lock_handoff_hop = 8  # fitted: extra handoff ns per SLIT unit above 10 (remote socket ~ +88 ns)
sleep_wakeup = 4000  # fitted: futex/scheduler wake-up to running on an idle CPU
context_switch = 1500  # fitted: host scheduler context switch
rcu_gp = 3000000  # fitted: grace-period latency after the last pre-existing reader (HZ=1000 tick-driven GP)
ipi_send = 80  # fitted: sender cost per target (csd queueing + x2APIC ICR write)
ipi_receive = 800  # fitted: interrupt entry + flush handler dispatch + exit on a host-mode target
ipi_ack_wait = 1200  # fitted: cross-CPU round trip until the last csd is released
tlb_flush_local_all = 40  # TLB-IM-01: __flush_tlb() 96 cycles (at ~2.4 GHz)
tlb_flush_local_page = 100  # TLB-IM-04: about 100 ns per single-page flush (INVLPG)
vm_exit = 1200  # fitted: VM exit + re-entry round trip of an interrupted vCPU
srcu_expedited_gp = 30000  # fitted (no reference point isolates it): two workqueue hops + per-CPU srcu_data scans
# coco: SEV-SNP RMP and guest_memfd
rmpupdate = 1200  # fitted
psmash = 2000  # fitted
pvalidate = 800  # fitted
rmp_entry_read = 5  # fitted
clflush = 40  # fitted
gmem_zero = 116.9  # CLR-ICX-2MB-base: 1024 B / 8.76 GB/s (Icelake-X, page-by-page clear)
gmem_folio_lookup = 150  # fitted
# kvm: fault path, zaps, flushes, exits
kvm_exit_entry = 300  # fitted: EPS3-T1-2-N
kvm_fault_overhead = 150  # fitted (no reference point isolates it): fault setup and memslot lookup outside the costed steps
kvm_mmu_page_alloc = 568  # CLR-ICX-2MB-base: zero 4 KiB at 8.76 GB/s = 468 ns, + 100 ns allocation (fitted)
kvm_spte_cmpxchg = 45  # fitted: EPS1-04-Y
kvm_spte_write = 47.48  # fitted: EPS1-03-N (per 4K D clear in clear_dirty_pt_masked, with the per-word walk starts charged apart)
kvm_set_pfn_ad = 121  # fitted: PFN-STOP-x86-ro (same mechanism; 2022 kernels also propagated A/D on zap)
kvm_tdp_iter_step = 5  # fitted
kvm_gup_fast = 100  # fitted
kvm_memslot_visit = 30  # fitted
kvm_remote_flush_req = 100  # fitted
kvm_make_request = 20  # fitted
kvm_tlb_flush_guest = 500  # fitted
kvm_userspace_exit = 2000  # fitted
kvm_xa_store = 50  # fitted
kvm_guest_access = 50.8  # PFN-STOP-x86-run2: 0.035537803 s / 699,050 stores per vCPU
kvm_dirty_bitmap_word = 5  # fitted
kvm_pml_full_exit = 3000  # fitted
kvm_s2_tlbi = 200  # fitted (arm64 only)
kvm_s2_tlbi_block = 200  # fitted (arm64 only; as kvm_s2_tlbi)
kvm_s2_tlbi_vmid = 500  # fitted (arm64 only)
kvm_s2_dcache_cmo = 300  # fitted (arm64 only; PFN-STOP-arm64-ro bounds TLBI + 4 x CMO per page)
kvm_s2_cmo_membw = 0  # fitted (unlimited: no reference point of this host is bound by memory bandwidth)
kvm_s2_fwb = 0  # n/a on x86
kvm_s2_tlbirange = 0  # n/a on x86
kvm_rwlock_needbreak = 0  # fitted: host preemption model voluntary/none (rwlock_needbreak() returns 0)
kvm_rmap_head = 3.0  # fitted: EPS3-T3-2-N; sequential scan of 8-byte rmap heads + the loop and the empty check
kvm_rmap_add = 10  # fitted: pte_list_add into an empty 4K rmap head (one store; the heads are sequential, prefetched) + rmap lookup
kvm_ack_kick = 0  # fitted: ack_kick (virt/kvm/kvm_main.c) has an empty body; delivery and the exit are ipi_receive + vm_exit
kvm_s2_tlbi_nsh = 50  # fitted: local (non-shareable) TLBI + DSB NSH, no broadcast to the inner-shareable domain (vs kvm_s2_tlbi = 200)
kvm_mmu_page_hash_node = 100  # fitted (no reference point): one struct kvm_mmu_page line last written by another CPU, ~100 ns
kvm_guest_set_dirty = 167  # fitted: EPS3-T1-2-Y
kvm_mmu_set_spte = 460  # fitted: EPS3-T1-64-N
kvm_split_spte = 10  # fitted: EPS1-01-Y
kvm_tdp_walk_start = 46.97  # fitted: EPS1-01-N; for_each_tdp_mmu_root step + rcu_read_lock + tdp_iter_start, once per walk from the root (2-3 per CLEAR word)
kvm_rmap_spte_update = 25.70  # fitted: EPS3-T3-2-Y; shadow MMU leaf change through its rmap: for_each_rmap_spte step + mmu_spte_update store + kvm_set_pfn_dirty
kvm_gpte_read = 40  # fitted (no reference point measures ept=N): memslot lookup + __get_user of a guest PTE
kvm_gpte_cmpxchg = 60  # fitted (no reference point measures ept=N): user-space cmpxchg of a guest PTE + mark_page_dirty
kvm_account_shadowed = 150  # fitted (no reference point measures ept=N): page-track count, two lpage_info updates, rmap write-protect lookups
# mm: physical memory
buddy_alloc = 586  # fitted: EPS1-04-N; includes the vmalloc/memcg work of a 4K page of kvzalloc
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
mm_clear_page = 116.9  # CLR-ICX-2MB-base: 1024 B / 8.76 GB/s (Icelake-X, page-by-page clear)
mm_gup_fast = 60  # fitted
mm_gup_slow = 300  # fitted
mm_put_page = 20  # fitted
mm_syscall = 300  # fitted
mm_vma_modify = 500  # fitted
mm_pte_visit = 2  # fitted
mm_pte_update = 15  # fitted
mm_pt_alloc = 568  # CLR-ICX-2MB-base: zero 4 KiB at 8.76 GB/s = 468 ns, + 100 ns allocation (fitted)
mm_pt_free = 100  # fitted
mm_notifier_call = 50  # fitted
mapcount_atomic_distinct = 40  # fitted (HGM-02: these dominate THP-like MADV_COLLAPSE)
mapcount_atomic = 20  # fitted
mm_pagecache_lookup = 40  # fitted
mm_copy_page = 150  # fitted
cpa_vm_unmap_aliases = 300  # fitted
