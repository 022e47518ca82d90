# mmu2d cost profile: x86-2022
# name = value  # source: a REFERENCE.md id, or "fitted"
# Units are given in lib/core/costs.def. Keep one parameter per line; modules append their groups.
