// SPDX-License-Identifier: MIT
/*
 * lib/guest/guest_pt.c - guest page tables in guest-physical memory (the
 * KVM selftests' virt_map()/virt_pg_map(): x86 identity-maps with 1 GiB
 * pages, arm64 with 4 KiB pages).
 *
 * The tables are real radix tables (lib/mm pt) whose pages are given
 * guest-physical addresses, in depth-first address order from the
 * configured table base, as the selftest's vm_alloc_page_table() hands
 * them out from memslot 0.  m2d_guest_pt_translate() returns the GPA of
 * every guest entry the hardware reads, which the second dimension then
 * translates: that is the 2D walk (each guest level costs one host walk).
 * The arm64 stage-1 tables use the stage-2 radix format, which has the same
 * shape (4 levels, 4K granule); only the bit encoding differs.
 */
#include "guest/guest.h"

#include "core/alloc.h"

#include <mmu2d/kvm.h>
#include <mmu2d/pt.h>

#include "mm/pt.h"

#include <errno.h>
#include <stdlib.h>

struct table_gpa {
	const uint64_t *table;
	uint64_t gpa;
};

struct m2d_guest_pt {
	struct m2d_pt *pt;
	enum m2d_pt_format fmt;
	struct table_gpa *tables;   /* sorted by table pointer (lookup only) */
	uint64_t nr_tables;
};

static int cmp_table(const void *a, const void *b)
{
	const struct table_gpa *x = a, *y = b;

	return x->table < y->table ? -1 : x->table > y->table;
}

/* Depth-first, address order: give each table page its GPA. */
static void assign(struct m2d_guest_pt *gpt, const uint64_t *table, int level, uint64_t *next,
		   bool count_only)
{
	if (!count_only) {
		gpt->tables[gpt->nr_tables].table = table;
		gpt->tables[gpt->nr_tables].gpa = *next;
	}
	gpt->nr_tables++;
	*next += M2D_PAGE_SIZE;
	if (level == M2D_LEVEL_4K)
		return;
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++) {
		uint64_t pte = table[i];

		if (m2d_pte_is_present(gpt->fmt, pte) && !m2d_pte_is_leaf(gpt->fmt, pte, level))
			assign(gpt, m2d_pte_table(gpt->fmt, pte), level - 1, next, count_only);
	}
}

/*
 * The selftests' x86 virt_pg_map writes upper entries as P | W and leaves
 * as P | W: no accessed or dirty bit until a walk sets them (the pt module
 * links its tables with A set, as the kernel's _PAGE_TABLE does).
 */
static void clear_table_ad(struct m2d_guest_pt *gpt, uint64_t *table, int level)
{
	uint64_t ad = pt_ad_bit(gpt->fmt, false) | pt_ad_bit(gpt->fmt, true);

	if (level == M2D_LEVEL_4K)
		return;
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++) {
		if (!m2d_pte_is_present(gpt->fmt, table[i]) ||
		    m2d_pte_is_leaf(gpt->fmt, table[i], level))
			continue;
		table[i] &= ~ad;
		clear_table_ad(gpt, m2d_pte_table(gpt->fmt, table[i]), level - 1);
	}
}

int m2d_guest_pt_create(struct m2d_guest_pt **out, uint64_t base, uint64_t size, int level,
			bool arm64, uint64_t table_gpa)
{
	return m2d_guest_pt_create_map(out, base, base, size, level, arm64, table_gpa);
}

int m2d_guest_pt_create_map(struct m2d_guest_pt **out, uint64_t gva, uint64_t gpa, uint64_t size,
			    int level, bool arm64, uint64_t table_gpa)
{
	uint64_t base = gva;
	struct m2d_pt_config cfg;
	struct m2d_guest_pt *gpt;
	uint64_t next = table_gpa, lsz;
	int ret;

	M2D_VALIDATE_OR_RET(out && level >= M2D_LEVEL_4K && level <= M2D_LEVEL_1G, -EINVAL);
	lsz = m2d_level_size(level);
	if (!size || base % lsz || gpa % lsz || size % lsz || table_gpa % M2D_PAGE_SIZE)
		return -EINVAL;
	gpt = m2d_zalloc(M2D_ALLOC_GUEST, sizeof(*gpt));
	if (!gpt)
		return -ENOMEM;
	m2d_pt_config_default(&cfg);
	cfg.format = arm64 ? M2D_PT_ARM64_S2 : M2D_PT_X86_64;
	gpt->fmt = cfg.format;
	ret = m2d_pt_create(&gpt->pt, &cfg);
	if (!ret)
		ret = m2d_pt_map_range(gpt->pt, base, size, gpa >> M2D_PAGE_SHIFT, level,
				       M2D_PROT_R | M2D_PROT_W | M2D_PROT_X);
	if (ret)
		goto err;
	assign(gpt, m2d_pt_root(gpt->pt), m2d_pt_root_level(gpt->pt), &next, true);
	gpt->tables = m2d_malloc(M2D_ALLOC_GUEST, gpt->nr_tables * sizeof(*gpt->tables));
	if (!gpt->tables) {
		ret = -ENOMEM;
		goto err;
	}
	gpt->nr_tables = 0;
	next = table_gpa;
	assign(gpt, m2d_pt_root(gpt->pt), m2d_pt_root_level(gpt->pt), &next, false);
	qsort(gpt->tables, gpt->nr_tables, sizeof(*gpt->tables), cmp_table);
	if (!arm64)
		clear_table_ad(gpt, m2d_pt_root(gpt->pt), m2d_pt_root_level(gpt->pt));
	*out = gpt;
	return 0;
err:
	m2d_pt_destroy(&gpt->pt);
	m2d_free(M2D_ALLOC_GUEST, gpt, sizeof(*gpt));
	return ret;
}

void m2d_guest_pt_destroy(struct m2d_guest_pt **gptp)
{
	struct m2d_guest_pt *gpt = gptp ? *gptp : NULL;

	if (!gpt)
		return;
	m2d_pt_destroy(&gpt->pt);
	m2d_free(M2D_ALLOC_GUEST, gpt->tables, gpt->nr_tables * sizeof(*gpt->tables));
	m2d_free(M2D_ALLOC_GUEST, gpt, sizeof(*gpt));
	*gptp = NULL;
}

static uint64_t table_gpa_of(const struct m2d_guest_pt *gpt, const uint64_t *table)
{
	struct table_gpa key = { .table = table }, *t;

	t = bsearch(&key, gpt->tables, gpt->nr_tables, sizeof(key), cmp_table);
	return t ? t->gpa : 0;
}

int m2d_guest_pt_translate(const struct m2d_guest_pt *gpt, uint64_t gva, uint64_t *gpa,
			   int *level, uint64_t entry_gpas[5], unsigned *n_entries)
{
	const uint64_t *table = m2d_pt_root(gpt->pt);
	unsigned n = 0;

	for (int l = m2d_pt_root_level(gpt->pt); l >= M2D_LEVEL_4K; l--) {
		unsigned idx = (unsigned)(gva >> (M2D_PAGE_SHIFT + 9 * (l - 1))) & 511;
		uint64_t pte = table[idx];

		entry_gpas[n++] = table_gpa_of(gpt, table) + idx * 8ull;
		if (!m2d_pte_is_present(gpt->fmt, pte))
			break;
		if (m2d_pte_is_leaf(gpt->fmt, pte, l)) {
			*gpa = (m2d_pte_pfn(gpt->fmt, pte, l) << M2D_PAGE_SHIFT) +
			       (gva & (m2d_level_size(l) - 1));
			*level = l;
			*n_entries = n;
			return 0;
		}
		table = m2d_pte_table(gpt->fmt, pte);
	}
	*n_entries = n;
	return -EFAULT;
}

uint64_t m2d_guest_pt_tables(const struct m2d_guest_pt *gpt)
{
	return gpt->nr_tables;
}

/*
 * The walk of x86 FNAME(walk_addr_generic) + FNAME(update_accessed_dirty_bits)
 * over these tables (an m2d_guest_walk_fn for a shadow-paging VM, @priv =
 * the m2d_guest_pt): the table gfn read at each level, then, if the walk
 * succeeds and allows the access, the accessed bit set on every level and
 * the dirty bit on the leaf for a write, counting the PTEs that changed.
 */
int m2d_guest_pt_walk(void *priv, uint64_t gva, bool write, bool peek, struct m2d_guest_walk *out)
{
	struct m2d_guest_pt *gpt = priv;
	uint64_t *table, *ptes[5] = { 0 };
	uint64_t a = pt_ad_bit(gpt->fmt, false), d = pt_ad_bit(gpt->fmt, true);

	M2D_VALIDATE_OR_RET(gpt && out, -EINVAL);
	*out = (struct m2d_guest_walk){ .root_level = m2d_pt_root_level(gpt->pt), .writable = true };
	table = m2d_pt_root(gpt->pt);
	for (int l = out->root_level; l >= M2D_LEVEL_4K; l--) {
		unsigned idx = (unsigned)(gva >> (M2D_PAGE_SHIFT + 9 * (l - 1))) & 511;
		uint64_t pte = table[idx];

		out->table_gfn[l - 1] = table_gpa_of(gpt, table) >> M2D_PAGE_SHIFT;
		out->level = l;
		ptes[l - 1] = &table[idx];
		if (!m2d_pte_is_present(gpt->fmt, pte))
			return -EFAULT;
		if (!m2d_pte_is_leaf(gpt->fmt, pte, l)) {
			table = m2d_pte_table(gpt->fmt, pte);
			continue;
		}
		out->writable = m2d_pte_prot(gpt->fmt, pte, l) & M2D_PROT_W;
		out->gfn = m2d_pte_pfn(gpt->fmt, pte, l) +
			   ((gva & (m2d_level_size(l) - 1)) >> M2D_PAGE_SHIFT);
		out->dirty = pte & d;
		out->accessed = pte & a;
		if (peek || (write && !out->writable))
			return 0;
		for (int k = out->root_level; k >= l; k--) {
			uint64_t set = a | (k == l && write ? d : 0);

			if ((*ptes[k - 1] & set) != set) {
				*ptes[k - 1] |= set;
				out->ad_updates++;
			}
		}
		out->dirty = *ptes[l - 1] & d;
		out->accessed = *ptes[l - 1] & a;
		return 0;
	}
	return -EFAULT;
}
