/* SPDX-License-Identifier: MIT */
/* mmu2d/mmu2d.h - umbrella header: includes every public header. */
#ifndef M2D_MMU2D_H
#define M2D_MMU2D_H

#include <mmu2d/types.h>
#include <mmu2d/error.h>
#include <mmu2d/sim.h>
#include <mmu2d/pt.h>
#include <mmu2d/coco.h>
#include <mmu2d/kvm.h>
#include <mmu2d/physmem.h>
#include <mmu2d/mm.h>
#include <mmu2d/ghcb.h>
#include <mmu2d/guest.h>
#include <mmu2d/workloads.h>

#endif /* M2D_MMU2D_H */
