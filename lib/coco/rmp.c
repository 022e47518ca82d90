// SPDX-License-Identifier: MIT
/*
 * lib/coco/rmp.c - the SEV-SNP RMP and the host helpers around it.
 *
 * Sources: arch/x86/virt/svm/sev.c (get_rmpentry, __snp_lookup_rmpentry,
 * snp_lookup_rmpentry, adjust_direct_map, rmpupdate, rmp_make_private,
 * rmp_make_shared, psmash), the SNP host v1 series' invalidate_direct_map /
 * restore_direct_map (MECHANISMS.md 2.4 (a)), AMD APM vol. 2 "RMP and VMPL
 * access checks" and vol. 3 RMPUPDATE/PSMASH/PVALIDATE.
 *
 * Storage.  There is one logical 16-byte RMP entry per 4K host page; the
 * entry of a 2M-aligned pfn is authoritative for its 512 pages when its
 * page-size bit is set.  The model keeps only the low 64 bits and stores
 * them sparsely:
 *
 *   rmp->chunks[pfn >> 18]            one pointer per 1 GiB of host memory
 *     -> struct rmp_region [512]      16 bytes per 2 MiB, allocated on first
 *                                     assignment inside that GiB
 *          .head                      the 2M-aligned entry itself
 *          .sub -> struct rmp_sub     entries 1..511, only while one of
 *                                     them is assigned (4K assignments,
 *                                     or after PSMASH); freed when the
 *                                     last one becomes shared again
 *
 * So a 2M assignment costs one 8-byte store; 4K-entry storage exists only
 * for smashed or 4K-assigned regions.
 *
 * Firmware range locks.  RMPUPDATE locks the 2M range it updates; a
 * concurrent update of the same range fails with FAIL_OVERLAP and the
 * kernel spins (rmpupdate()'s do/while).  The model records the virtual
 * interval [start, end) of the latest RMPUPDATE per 2M range (a small
 * direct-mapped table: only in-flight updates matter); an update that
 * starts inside another CPU's interval sees FAIL_OVERLAP and spins to
 * its end.
 *
 * Ordering guarantees: none beyond the engine's: every model call runs
 * to completion without yielding (m2d_delay never yields), so RMP state
 * changes are atomic with respect to other simulated threads.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kernel.h"
#include "coco/rmp.h"

#define REGIONS_PER_CHUNK 512u
#define PFN_PMD_MASK (~(uint64_t)(RMP_PTRS_PER_PMD - 1))
#define RMP_BUSY_SLOTS 256u

struct rmp_sub {
	uint32_t nr_assigned;            /* assigned entries among e[1..511] */
	uint64_t e[RMP_PTRS_PER_PMD];    /* e[0] unused: the head is in the region */
};

struct rmp_region {
	uint64_t head;                   /* raw entry of the 2M-aligned pfn */
	struct rmp_sub *sub;             /* entries 1..511, NULL = all unassigned */
};

struct rmp_busy {
	uint64_t region;                 /* pfn >> 9 of the locked range, +1 (0 = empty) */
	m2d_vtime_t start, end;          /* virtual interval the firmware holds it */
	const void *owner;               /* the thread that held it */
};

struct m2d_rmp {
	struct m2d_rmp_config cfg;
	const struct m2d_rmp_directmap_ops *dm_ops;
	void *dm;
	struct rmp_region **chunks;      /* [nr_chunks], NULL = nothing assigned */
	uint64_t nr_chunks;
	struct rmp_busy busy[RMP_BUSY_SLOTS];
	struct m2d_rmp_stats st;
	struct m2d_rmp_violation *vlog;  /* ring of cfg.violation_log entries */
	uint64_t vlog_total;             /* violations ever logged */
};

void m2d_rmp_config_default(struct m2d_rmp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->directmap = M2D_RMP_DIRECTMAP_SPLIT_ONLY;
	cfg->violation_log = 64;
}

int m2d_rmp_create(struct m2d_rmp **out, const struct m2d_rmp_config *cfg,
		   const struct m2d_rmp_directmap_ops *dm_ops, void *dm)
{
	struct m2d_rmp *rmp;

	M2D_VALIDATE_OR_RET(out && cfg, -EINVAL);
	if (!cfg->max_pfn || !M2D_IS_ALIGNED(cfg->max_pfn, RMP_PTRS_PER_PMD) ||
	    cfg->directmap >= M2D_RMP_DIRECTMAP_NR)
		return -EINVAL;
	if (!dm_ops && cfg->directmap != M2D_RMP_DIRECTMAP_NONE)
		return -EINVAL;

	rmp = m2d_zalloc(M2D_ALLOC_RMP, sizeof(*rmp));
	if (!rmp)
		goto err;
	rmp->cfg = *cfg;
	rmp->dm_ops = dm_ops;
	rmp->dm = dm;
	rmp->nr_chunks = M2D_DIV_ROUND_UP(cfg->max_pfn, (uint64_t)REGIONS_PER_CHUNK * RMP_PTRS_PER_PMD);
	rmp->chunks = m2d_calloc(M2D_ALLOC_RMP, rmp->nr_chunks, sizeof(*rmp->chunks));
	if (!rmp->chunks)
		goto err_free_rmp;
	if (cfg->violation_log) {
		rmp->vlog = m2d_calloc(M2D_ALLOC_RMP, cfg->violation_log, sizeof(*rmp->vlog));
		if (!rmp->vlog)
			goto err_free_chunks;
	}
	rmp->st.meta_bytes = sizeof(*rmp) + rmp->nr_chunks * sizeof(*rmp->chunks) +
			     cfg->violation_log * sizeof(*rmp->vlog);
	*out = rmp;
	return 0;

err_free_chunks:
	m2d_free(M2D_ALLOC_RMP, rmp->chunks, rmp->nr_chunks * sizeof(*rmp->chunks));
err_free_rmp:
	m2d_free(M2D_ALLOC_RMP, rmp, sizeof(*rmp));
err:
	return -ENOMEM;
}

void m2d_rmp_destroy(struct m2d_rmp **p)
{
	struct m2d_rmp *rmp = p ? *p : NULL;

	if (!rmp)
		return;
	for (uint64_t c = 0; c < rmp->nr_chunks; c++) {
		struct rmp_region *r = rmp->chunks[c];

		if (!r)
			continue;
		for (unsigned i = 0; i < REGIONS_PER_CHUNK; i++)
			m2d_free(M2D_ALLOC_RMP, r[i].sub, sizeof(*r[i].sub));
		m2d_free(M2D_ALLOC_RMP, r, REGIONS_PER_CHUNK * sizeof(*r));
	}
	m2d_free(M2D_ALLOC_RMP, rmp->chunks, rmp->nr_chunks * sizeof(*rmp->chunks));
	m2d_free(M2D_ALLOC_RMP, rmp->vlog, rmp->cfg.violation_log * sizeof(*rmp->vlog));
	m2d_free(M2D_ALLOC_RMP, rmp, sizeof(*rmp));
	*p = NULL;
}

/* ---- raw entry access ---------------------------------------------------- */

static inline bool rmpe_assigned(uint64_t e)
{
	return e & RMPE_ASSIGNED;
}

static inline bool rmpe_is_2m(uint64_t e)
{
	return (e & (RMPE_ASSIGNED | RMPE_PAGESIZE)) == (RMPE_ASSIGNED | RMPE_PAGESIZE);
}

static uint64_t rmpe_encode(const struct m2d_rmp_state *s)
{
	uint64_t e;

	if (!s->assigned)
		return 0;
	e = RMPE_ASSIGNED;
	if (s->pagesize)
		e |= RMPE_PAGESIZE;
	if (s->immutable)
		e |= RMPE_IMMUTABLE;
	e |= ((s->gpa >> M2D_PAGE_SHIFT) << RMPE_GPA_SHIFT) & RMPE_GPA_MASK;
	e |= ((uint64_t)s->asid << RMPE_ASID_SHIFT) & RMPE_ASID_MASK;
	return e;
}

static inline uint64_t rmpe_gpa(uint64_t e)
{
	return ((e & RMPE_GPA_MASK) >> RMPE_GPA_SHIFT) << M2D_PAGE_SHIFT;
}

static inline uint32_t rmpe_asid(uint64_t e)
{
	return (uint32_t)((e & RMPE_ASID_MASK) >> RMPE_ASID_SHIFT);
}

/* The region of @pfn, or NULL if nothing in its GiB was ever assigned. */
static struct rmp_region *region_of(const struct m2d_rmp *rmp, uint64_t pfn)
{
	struct rmp_region *c = rmp->chunks[pfn / ((uint64_t)REGIONS_PER_CHUNK * RMP_PTRS_PER_PMD)];

	return c ? &c[(pfn / RMP_PTRS_PER_PMD) % REGIONS_PER_CHUNK] : NULL;
}

static struct rmp_region *region_of_alloc(struct m2d_rmp *rmp, uint64_t pfn)
{
	uint64_t ci = pfn / ((uint64_t)REGIONS_PER_CHUNK * RMP_PTRS_PER_PMD);

	if (!rmp->chunks[ci]) {
		rmp->chunks[ci] = m2d_calloc(M2D_ALLOC_RMP, REGIONS_PER_CHUNK, sizeof(struct rmp_region));
		if (!rmp->chunks[ci])
			return NULL;
		rmp->st.meta_bytes += REGIONS_PER_CHUNK * sizeof(struct rmp_region);
	}
	return &rmp->chunks[ci][(pfn / RMP_PTRS_PER_PMD) % REGIONS_PER_CHUNK];
}

static uint64_t entry_get(const struct m2d_rmp *rmp, uint64_t pfn)
{
	const struct rmp_region *r = region_of(rmp, pfn);
	unsigned i = pfn % RMP_PTRS_PER_PMD;

	if (!r)
		return 0;
	if (!i)
		return r->head;
	return r->sub ? r->sub->e[i] : 0;
}

static void account(struct m2d_rmp *rmp, uint64_t old, uint64_t new)
{
	if (rmpe_assigned(old))
		(old & RMPE_PAGESIZE) ? rmp->st.assigned_2m-- : rmp->st.assigned_4k--;
	if (rmpe_assigned(new))
		(new & RMPE_PAGESIZE) ? rmp->st.assigned_2m++ : rmp->st.assigned_4k++;
}

static void sub_free(struct m2d_rmp *rmp, struct rmp_region *r)
{
	m2d_free(M2D_ALLOC_RMP, r->sub, sizeof(*r->sub));
	r->sub = NULL;
	rmp->st.smashed_regions--;
	rmp->st.meta_bytes -= sizeof(struct rmp_sub);
}

/* Store @val as @pfn's raw entry.  Return: 0 or -ENOMEM (state unchanged). */
static int entry_set(struct m2d_rmp *rmp, uint64_t pfn, uint64_t val)
{
	struct rmp_region *r = val ? region_of_alloc(rmp, pfn) : region_of(rmp, pfn);
	unsigned i = pfn % RMP_PTRS_PER_PMD;
	uint64_t old;

	if (!r)
		return val ? -ENOMEM : 0;
	if (!i) {
		account(rmp, r->head, val);
		r->head = val;
		return 0;
	}
	if (!r->sub) {
		if (!val)
			return 0;
		r->sub = m2d_zalloc(M2D_ALLOC_RMP, sizeof(*r->sub));
		if (!r->sub)
			return -ENOMEM;
		rmp->st.smashed_regions++;
		rmp->st.meta_bytes += sizeof(struct rmp_sub);
	}
	old = r->sub->e[i];
	account(rmp, old, val);
	r->sub->e[i] = val;
	r->sub->nr_assigned += rmpe_assigned(val) - rmpe_assigned(old);
	if (!r->sub->nr_assigned)
		sub_free(rmp, r);
	return 0;
}

uint64_t m2d_rmp_raw(const struct m2d_rmp *rmp, m2d_pfn_t pfn)
{
	if (pfn.v >= rmp->cfg.max_pfn)
		return 0;
	return entry_get(rmp, pfn.v);
}

int m2d_rmp_raw_level(const struct m2d_rmp *rmp, m2d_pfn_t pfn)
{
	if (pfn.v >= rmp->cfg.max_pfn)
		return M2D_LEVEL_4K;
	return rmpe_is_2m(entry_get(rmp, pfn.v & PFN_PMD_MASK)) ? M2D_LEVEL_2M : M2D_LEVEL_4K;
}

bool m2d_rmp_raw_is_assigned(const struct m2d_rmp *rmp, m2d_pfn_t pfn)
{
	if (pfn.v >= rmp->cfg.max_pfn)
		return false;
	return rmpe_is_2m(entry_get(rmp, pfn.v & PFN_PMD_MASK)) ||
	       rmpe_assigned(entry_get(rmp, pfn.v));
}

unsigned m2d_rmp_region_assigned(const struct m2d_rmp *rmp, m2d_pfn_t pfn)
{
	const struct rmp_region *r;

	if (pfn.v >= rmp->cfg.max_pfn)
		return 0;
	r = region_of(rmp, pfn.v);
	if (!r)
		return 0;
	if (rmpe_is_2m(r->head))
		return RMP_PTRS_PER_PMD;
	return rmpe_assigned(r->head) + (r->sub ? r->sub->nr_assigned : 0);
}

/* ---- lookups ------------------------------------------------------------- */

/* get_rmpentry(): one RMP entry read. */
static uint64_t get_rmpentry(struct m2d_rmp *rmp, uint64_t pfn)
{
	m2d_delay(M2D_COST_RMP_ENTRY_READ, 1);
	m2d_count(M2D_CTR_rmp_entry_reads, 1);
	rmp->st.entry_reads++;
	return entry_get(rmp, pfn);
}

/* snp_lookup_rmpentry() / __snp_lookup_rmpentry(): the pfn's own entry and
 * the authoritative 2M-aligned entry. */
int m2d_snp_lookup_rmpentry(struct m2d_rmp *rmp, m2d_pfn_t pfn, bool *assigned, int *level)
{
	uint64_t e, e_large;

	if (pfn.v >= rmp->cfg.max_pfn)
		return -EFAULT;
	e = get_rmpentry(rmp, pfn.v);
	e_large = get_rmpentry(rmp, pfn.v & PFN_PMD_MASK);
	*level = (e_large & RMPE_PAGESIZE) ? M2D_LEVEL_2M : M2D_LEVEL_4K;
	/* A pfn inside a 2M entry reads its own (unused) 4K entry; the CPU's
	 * view, and the kernel's use of "assigned", follow the 2M entry. */
	*assigned = rmpe_assigned(e) || rmpe_is_2m(e_large);
	return 0;
}

/*
 * @n consecutive snp_lookup_rmpentry() calls from @start, as a loop that
 * stops at the first assigned pfn (is_pfn_range_shared) performs them:
 * 2 reads per lookup, charged and counted exactly; the scan itself uses
 * the sparse layout (an empty region costs O(1) simulator time).
 * Return: the first assigned pfn in [start, start + n), or start + n.
 */
uint64_t m2d_snp_lookup_rmpentry_scan(struct m2d_rmp *rmp, m2d_pfn_t start, uint64_t n)
{
	uint64_t pfn = start.v, end = start.v + n, hit = end, lookups;

	while (pfn < end) {
		const struct rmp_region *r = pfn < rmp->cfg.max_pfn ? region_of(rmp, pfn) : NULL;
		uint64_t rend = M2D_MIN((pfn | (RMP_PTRS_PER_PMD - 1)) + 1, end);

		if (pfn >= rmp->cfg.max_pfn) {
			hit = pfn;
			break;
		}
		if (r && (r->head || r->sub)) {
			for (; pfn < rend; pfn++)
				if (m2d_rmp_raw_is_assigned(rmp, m2d_pfn_from_u64(pfn)))
					break;
			if (pfn < rend) {
				hit = pfn;
				break;
			}
		}
		pfn = rend;
	}
	lookups = M2D_MIN(hit + 1, end) - start.v;
	m2d_delay(M2D_COST_RMP_ENTRY_READ, 2 * lookups);
	m2d_count(M2D_CTR_rmp_entry_reads, 2 * lookups);
	rmp->st.entry_reads += 2 * lookups;
	return hit;
}

/* ---- direct-map handling: the three generations -------------------------- */

/* adjust_direct_map() (merged code, MECHANISMS.md 2.4 (b)). */
static int adjust_direct_map(struct m2d_rmp *rmp, uint64_t pfn, int rmp_level)
{
	int level;

	if (M2D_WARN_ON_ONCE(rmp_level > M2D_LEVEL_2M))
		return -EINVAL;
	/*
	 * A whole-2M transition cannot create a mixed 2M region: even 1G
	 * direct-map mappings are checked as 2M by the RMP.
	 */
	if (rmp_level == M2D_LEVEL_2M)
		return 0;
	level = rmp->dm_ops->level(rmp->dm, m2d_pfn_from_u64(pfn));
	if (level == M2D_LEVEL_NONE || level == M2D_LEVEL_4K)
		return 0;
	return rmp->dm_ops->set_memory_4k(rmp->dm, m2d_pfn_from_u64(pfn), 1);
}

/* restore_direct_map() (SNP host v1, MECHANISMS.md 2.4 (a)). */
static int restore_direct_map(struct m2d_rmp *rmp, uint64_t pfn, unsigned npages)
{
	int ret = 0;

	for (unsigned i = 0; i < npages; i++) {
		ret = rmp->dm_ops->set_default_noflush(rmp->dm, m2d_pfn_from_u64(pfn + i));
		if (ret)
			break;
	}
	return ret;
}

/* invalidate_direct_map() (SNP host v1): restores what it invalidated on failure. */
static int invalidate_direct_map(struct m2d_rmp *rmp, uint64_t pfn, unsigned npages)
{
	int ret = 0;

	for (unsigned i = 0; i < npages; i++) {
		ret = rmp->dm_ops->set_invalid_noflush(rmp->dm, m2d_pfn_from_u64(pfn + i));
		if (ret) {
			restore_direct_map(rmp, pfn, i);
			break;
		}
	}
	return ret;
}

/* The part of rmpupdate() before the instruction. */
static int directmap_before(struct m2d_rmp *rmp, uint64_t pfn, int level, bool assigned)
{
	unsigned npages = level == M2D_LEVEL_2M ? RMP_PTRS_PER_PMD : 1;

	switch (rmp->cfg.directmap) {
	case M2D_RMP_DIRECTMAP_INVALIDATE:
		return assigned ? invalidate_direct_map(rmp, pfn, npages) : 0;
	case M2D_RMP_DIRECTMAP_SPLIT_ONLY:
		return adjust_direct_map(rmp, pfn, level);
	case M2D_RMP_DIRECTMAP_NR_PAGES:
		return assigned ? rmp->dm_ops->set_valid_noflush(rmp->dm, m2d_pfn_from_u64(pfn),
								  npages, false) : 0;
	default:
		return 0;
	}
}

/* The part of rmpupdate() after a successful unassigning instruction. */
static int directmap_after(struct m2d_rmp *rmp, uint64_t pfn, int level, bool assigned)
{
	unsigned npages = level == M2D_LEVEL_2M ? RMP_PTRS_PER_PMD : 1;

	if (assigned)
		return 0;
	switch (rmp->cfg.directmap) {
	case M2D_RMP_DIRECTMAP_INVALIDATE:
		return restore_direct_map(rmp, pfn, npages);
	case M2D_RMP_DIRECTMAP_NR_PAGES:
		return rmp->dm_ops->set_valid_noflush(rmp->dm, m2d_pfn_from_u64(pfn), npages, true);
	default:
		return 0;
	}
}

/* ---- RMPUPDATE ----------------------------------------------------------- */

/*
 * The firmware's 2M range lock: FAIL_OVERLAP if another thread's update of
 * the same 2M range is in flight at virtual time @now; *@until is when it
 * ends.
 */
static bool range_busy(struct m2d_rmp *rmp, uint64_t region, m2d_vtime_t now,
		       m2d_vtime_t *until)
{
	const struct rmp_busy *b = &rmp->busy[region % RMP_BUSY_SLOTS];

	if (b->region != region + 1 || b->owner == (const void *)m2d_cur)
		return false;
	if (now < b->start || now >= b->end)
		return false;
	*until = b->end;
	return true;
}

static void range_hold(struct m2d_rmp *rmp, uint64_t region, m2d_vtime_t start, m2d_vtime_t end)
{
	struct rmp_busy *b = &rmp->busy[region % RMP_BUSY_SLOTS];

	b->region = region + 1;
	b->start = start;
	b->end = end;
	b->owner = m2d_cur;
}

/*
 * The RMPUPDATE instruction.  Return: RMP_SUCCESS or an RMPUPDATE_FAIL_*
 * code.  A 2M assignment over assigned 4K entries, a 4K update inside an
 * assigned 2M entry and a 2M unassignment of 4K entries return FAIL_INPUT
 * (the kernel never issues them: is_large_rmp_possible and PSMASH come
 * first), so rmpupdate()'s spin on FAIL_OVERLAP stays finite.
 */
static int rmpupdate_insn(struct m2d_rmp *rmp, uint64_t pfn, const struct m2d_rmp_state *state,
			  m2d_vtime_t *until)
{
	uint64_t region = pfn / RMP_PTRS_PER_PMD;
	uint64_t head_pfn = pfn & PFN_PMD_MASK;
	struct rmp_region *r = region_of(rmp, pfn);
	uint64_t head = r ? r->head : 0;
	m2d_vtime_t start = m2d_now();
	int ret;

	m2d_delay(M2D_COST_RMPUPDATE, 1);
	if (range_busy(rmp, region, start, until))
		return RMPUPDATE_FAIL_OVERLAP;

	if (state->pagesize) {
		if (pfn != head_pfn)
			return RMPUPDATE_FAIL_INPUT;
		if (state->assigned) {
			if (rmpe_assigned(head) || (r && r->sub))
				return RMPUPDATE_FAIL_INPUT;
		} else if (!rmpe_is_2m(head) && (rmpe_assigned(head) || (r && r->sub))) {
			return RMPUPDATE_FAIL_INPUT;
		}
	} else if (rmpe_is_2m(head)) {
		return RMPUPDATE_FAIL_INPUT;
	}
	if (rmpe_assigned(entry_get(rmp, pfn)) && (entry_get(rmp, pfn) & RMPE_IMMUTABLE))
		return RMPUPDATE_FAIL_PERMISSION;

	ret = entry_set(rmp, pfn, rmpe_encode(state));
	if (ret)
		m2d_die("out of memory for RMP entries");
	range_hold(rmp, region, start, m2d_now());
	rmp->st.rmpupdates++;
	m2d_count(M2D_CTR_rmpupdates, 1);
	return RMP_SUCCESS;
}

/* rmpupdate(): direct-map policy, then RMPUPDATE spinning on FAIL_OVERLAP. */
static int rmpupdate(struct m2d_rmp *rmp, uint64_t pfn, const struct m2d_rmp_state *state)
{
	int level = state->pagesize ? M2D_LEVEL_2M : M2D_LEVEL_4K;
	m2d_vtime_t until = 0;
	int ret;

	if (pfn >= rmp->cfg.max_pfn ||
	    (level == M2D_LEVEL_2M && (!M2D_IS_ALIGNED(pfn, RMP_PTRS_PER_PMD) ||
				       pfn + RMP_PTRS_PER_PMD > rmp->cfg.max_pfn)))
		return -EINVAL;
	if (directmap_before(rmp, pfn, level, state->assigned))
		return -EFAULT;

	for (;;) {
		ret = rmpupdate_insn(rmp, pfn, state, &until);
		if (ret != RMPUPDATE_FAIL_OVERLAP)
			break;
		/* The firmware holds the range until the other update ends:
		 * the kernel's retry loop spins that long. */
		rmp->st.rmpupdate_overlaps++;
		m2d_count(M2D_CTR_rmpupdate_overlaps, 1);
		if (until > m2d_now())
			m2d_delay_ns(M2D_COST_RMPUPDATE, (double)(until - m2d_now()));
	}
	if (ret)
		return -EFAULT;
	if (directmap_after(rmp, pfn, level, state->assigned))
		return -EFAULT;
	return 0;
}

int m2d_rmp_make_private(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t gpa, int level,
			 uint32_t asid, bool immutable)
{
	struct m2d_rmp_state state = {
		.gpa = gpa, .assigned = 1, .asid = asid, .immutable = immutable,
		.pagesize = level == M2D_LEVEL_2M,
	};

	if (level != M2D_LEVEL_4K && level != M2D_LEVEL_2M)
		return -EINVAL;
	if (level == M2D_LEVEL_2M && !M2D_IS_ALIGNED(gpa, M2D_PMD_SIZE))
		return -EINVAL;
	return rmpupdate(rmp, pfn.v, &state);
}

int m2d_rmp_make_shared(struct m2d_rmp *rmp, m2d_pfn_t pfn, int level)
{
	struct m2d_rmp_state state = { .pagesize = level == M2D_LEVEL_2M };

	if (level != M2D_LEVEL_4K && level != M2D_LEVEL_2M)
		return -EINVAL;
	return rmpupdate(rmp, pfn.v, &state);
}

/* ---- PSMASH -------------------------------------------------------------- */

int m2d_psmash(struct m2d_rmp *rmp, m2d_pfn_t pfn)
{
	uint64_t head_pfn = pfn.v & PFN_PMD_MASK;
	struct rmp_region *r;
	struct rmp_sub *sub;
	uint64_t head;

	m2d_vtime_t start = m2d_now(), until;

	if (pfn.v >= rmp->cfg.max_pfn)
		return -EINVAL;
	m2d_delay(M2D_COST_PSMASH, 1);
	/* PSMASH also takes the firmware's 2M range lock: racing with another
	 * PSMASH or RMPUPDATE of the range fails (callers re-check the level). */
	if (range_busy(rmp, head_pfn / RMP_PTRS_PER_PMD, start, &until))
		return RMPUPDATE_FAIL_INUSE;
	r = region_of(rmp, head_pfn);
	head = r ? r->head : 0;
	if (pfn.v != head_pfn || !rmpe_is_2m(head))
		return RMPUPDATE_FAIL_INPUT;
	M2D_BUG_ON(r->sub);

	sub = m2d_zalloc(M2D_ALLOC_RMP, sizeof(*sub));
	if (!sub)
		m2d_die("out of memory for RMP entries");
	/* 512 4K entries: same ASID, consecutive GPAs, Validated preserved;
	 * VMSA stays with the first page only. */
	for (unsigned i = 1; i < RMP_PTRS_PER_PMD; i++)
		sub->e[i] = ((head & ~(RMPE_PAGESIZE | RMPE_VMSA | RMPE_GPA_MASK)) |
			     ((((head & RMPE_GPA_MASK) >> RMPE_GPA_SHIFT) + i) << RMPE_GPA_SHIFT));
	sub->nr_assigned = RMP_PTRS_PER_PMD - 1;
	r->sub = sub;
	r->head = head & ~RMPE_PAGESIZE;
	rmp->st.assigned_2m--;
	rmp->st.assigned_4k += RMP_PTRS_PER_PMD;
	rmp->st.smashed_regions++;
	rmp->st.meta_bytes += sizeof(*sub);
	rmp->st.psmash++;
	m2d_count(M2D_CTR_psmash, 1);
	range_hold(rmp, head_pfn / RMP_PTRS_PER_PMD, start, m2d_now());
	return 0;
}

/* ---- PVALIDATE ----------------------------------------------------------- */

static void set_validated(struct m2d_rmp *rmp, uint64_t pfn, uint64_t e, bool validate)
{
	e = validate ? e | RMPE_VALIDATED : e & ~RMPE_VALIDATED;
	if (entry_set(rmp, pfn, e))
		m2d_die("out of memory for RMP entries");
}

enum m2d_pvalidate_result m2d_rmp_pvalidate(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t gpa,
					    int level, uint32_t asid, bool validate)
{
	uint64_t head_pfn = pfn.v & PFN_PMD_MASK, head, e;

	m2d_delay(M2D_COST_PVALIDATE, 1);
	m2d_count(M2D_CTR_pvalidates, 1);
	rmp->st.pvalidates++;
	if (pfn.v >= rmp->cfg.max_pfn)
		return M2D_PVALIDATE_NPF_RMP;

	head = entry_get(rmp, head_pfn);
	if (rmpe_is_2m(head)) {
		/* The guest's gpa must be the 2M entry's gpa plus the offset. */
		if (rmpe_asid(head) != asid ||
		    rmpe_gpa(head) + ((pfn.v - head_pfn) << M2D_PAGE_SHIFT) != (gpa & ~(M2D_PAGE_SIZE - 1)))
			return M2D_PVALIDATE_NPF_RMP;
		if (level != M2D_LEVEL_2M)
			return M2D_PVALIDATE_NPF_RMP_SIZEM;
		if (pfn.v != head_pfn)
			return M2D_PVALIDATE_NPF_RMP;
		if (!!(head & RMPE_VALIDATED) == validate)
			return M2D_PVALIDATE_NOUPDATE;
		set_validated(rmp, head_pfn, head, validate);
		return M2D_PVALIDATE_OK;
	}

	e = entry_get(rmp, pfn.v);
	if (!rmpe_assigned(e) || rmpe_asid(e) != asid ||
	    rmpe_gpa(e) != (gpa & ~(M2D_PAGE_SIZE - 1)))
		return M2D_PVALIDATE_NPF_RMP;
	if (level == M2D_LEVEL_2M)
		return M2D_PVALIDATE_SIZEMISMATCH;
	if (!!(e & RMPE_VALIDATED) == validate)
		return M2D_PVALIDATE_NOUPDATE;
	set_validated(rmp, pfn.v, e, validate);
	return M2D_PVALIDATE_OK;
}

/* ---- the RMP check on host writes ---------------------------------------- */

/* An assigned pfn that a write to @pfn through @level would hit, or ~0. */
static uint64_t write_conflict(const struct m2d_rmp *rmp, uint64_t pfn, int level)
{
	const struct rmp_region *r;
	uint64_t head_pfn = pfn & PFN_PMD_MASK;

	if (pfn >= rmp->cfg.max_pfn)
		return ~0ull;
	r = region_of(rmp, pfn);
	if (!r)
		return ~0ull;
	if (rmpe_is_2m(r->head))
		return pfn;
	if (rmpe_assigned(entry_get(rmp, pfn)))
		return pfn;
	if (level < M2D_LEVEL_2M)
		return ~0ull;
	/* 2M and 1G mappings are checked against the 2M region. */
	if (rmpe_assigned(r->head))
		return head_pfn;
	if (r->sub)
		for (unsigned i = 1; i < RMP_PTRS_PER_PMD; i++)
			if (rmpe_assigned(r->sub->e[i]))
				return head_pfn + i;
	return ~0ull;
}

bool m2d_rmp_write_would_fault(const struct m2d_rmp *rmp, m2d_pfn_t pfn, int level)
{
	return write_conflict(rmp, pfn.v, level) != ~0ull;
}

bool m2d_rmp_host_write(struct m2d_rmp *rmp, m2d_pfn_t pfn, int level)
{
	uint64_t hit = write_conflict(rmp, pfn.v, level);
	struct m2d_rmp_violation *v;

	if (hit == ~0ull)
		return false;
	rmp->st.violations++;
	m2d_count(M2D_CTR_rmp_violations, 1);
	if (rmp->cfg.violation_log) {
		v = &rmp->vlog[rmp->vlog_total % rmp->cfg.violation_log];
		v->when = m2d_now();
		v->pfn = pfn;
		v->assigned_pfn = m2d_pfn_from_u64(hit);
		v->level = level;
		v->cpu = m2d_current_cpu();
	}
	rmp->vlog_total++;
	return true;
}

unsigned m2d_rmp_host_write_directmap_range(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t n)
{
	unsigned hits = 0;

	for (uint64_t p = pfn.v; p < pfn.v + n;) {
		uint64_t rend = M2D_MIN((p | (RMP_PTRS_PER_PMD - 1)) + 1, pfn.v + n);
		const struct rmp_region *r = p < rmp->cfg.max_pfn ? region_of(rmp, p) : NULL;

		/* Nothing assigned in this 2M region: no write to it can fault. */
		if (!r || (!r->head && !r->sub)) {
			p = rend;
			continue;
		}
		for (; p < rend; p++)
			hits += m2d_rmp_host_write_directmap(rmp, m2d_pfn_from_u64(p));
	}
	return hits;
}

bool m2d_rmp_host_write_directmap(struct m2d_rmp *rmp, m2d_pfn_t pfn)
{
	int level = M2D_LEVEL_4K;

	if (rmp->dm_ops) {
		if (!rmp->dm_ops->is_present(rmp->dm, pfn)) {
			m2d_count(M2D_CTR_directmap_np_writes, 1);
			return false;
		}
		level = rmp->dm_ops->level(rmp->dm, pfn);
	}
	return m2d_rmp_host_write(rmp, pfn, level);
}

/* ---- statistics ------------------------------------------------------------ */

void m2d_rmp_stats_get(const struct m2d_rmp *rmp, struct m2d_rmp_stats *out)
{
	*out = rmp->st;
}

unsigned m2d_rmp_violations_get(const struct m2d_rmp *rmp, struct m2d_rmp_violation *out,
				unsigned n)
{
	uint64_t kept = M2D_MIN(rmp->vlog_total, (uint64_t)rmp->cfg.violation_log);
	uint64_t first = rmp->vlog_total - kept;
	unsigned i;

	for (i = 0; i < n && i < kept; i++)
		out[i] = rmp->vlog[(first + i) % rmp->cfg.violation_log];
	return i;
}

enum m2d_rmp_directmap m2d_rmp_directmap_policy(const struct m2d_rmp *rmp)
{
	return rmp->cfg.directmap;
}

const struct m2d_rmp_directmap_ops *m2d_rmp_directmap(const struct m2d_rmp *rmp, void **dm)
{
	if (dm)
		*dm = rmp->dm;
	return rmp->dm_ops;
}
