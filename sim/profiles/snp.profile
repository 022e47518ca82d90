# mmu2d cost profile: snp
# name = value  # source: a REFERENCE.md id, or "fitted"
# Units are given in lib/core/costs.def. Keep one parameter per line; modules append their groups.
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
cpa_vm_unmap_aliases = 300  # fitted
