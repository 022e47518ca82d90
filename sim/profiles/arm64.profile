# mmu2d cost profile: arm64
# name = value  # source: a REFERENCE.md id, or "fitted"
# Units are given in lib/core/costs.def. Keep one parameter per line; modules append their groups.
# coco: SEV-SNP RMP and guest_memfd
rmpupdate = 1200  # fitted
psmash = 2000  # fitted
pvalidate = 800  # fitted
rmp_entry_read = 5  # fitted
clflush = 40  # fitted
gmem_zero = 116.9  # fitted (no arm64 clearing row; CLR-ICX-2MB-base value; unused: no SNP on arm64)
gmem_folio_lookup = 150  # fitted
