/* SPDX-License-Identifier: MIT */
/*
 * lib/guest/guest.h - internal state of the guest kernel model.
 */
#ifndef M2D_LIB_GUEST_GUEST_H
#define M2D_LIB_GUEST_GUEST_H

#include <mmu2d/guest.h>

#include "core/kernel.h"

#include <urcu/list.h>

struct m2d_guest {
	struct m2d_guest_config cfg;
	struct m2d_guest_arch_ops ops;
	bool has_ops;
	void *arch;

	uint64_t nr_pages;          /* managed pages of the zone */
	uint64_t nr_units;          /* 2 MiB units in the bitmap */
	uint64_t nr_blocks;         /* 4 MiB blocks */
	uint64_t *bitmap;           /* efi_unaccepted_memory bitmap: 1 = unaccepted */

	/* ZONE_NORMAL */
	spinlock_t zone_lock;
	uint64_t nr_free;           /* NR_FREE_PAGES (includes unaccepted) */
	uint64_t nr_unaccepted;     /* NR_UNACCEPTED */
	uint64_t wmark_min, wmark_low, wmark_high;
	uint64_t *fifo;             /* free blocks, allocation order */
	uint64_t fifo_head, fifo_tail;
	uint64_t head_used;         /* pages of fifo[fifo_head] handed out */
	uint64_t *unacc;            /* zone->unaccepted_pages (block numbers) */
	uint64_t unacc_head, unacc_tail;

	/* drivers/firmware/efi/unaccepted_memory.c */
	spinlock_t unaccepted_memory_lock;
	struct cds_list_head accepting_list;
	struct m2d_waitqueue accepting_wq; /* the cpu_relax() retry loop (spin) */

	struct m2d_guest_stats stats;
};

#endif /* M2D_LIB_GUEST_GUEST_H */
