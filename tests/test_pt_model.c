// SPDX-License-Identifier: MIT
/*
 * tests/test_pt_model.c - seeded randomized model test of the page tables.
 *
 * Built twice (tests/meson.build): unit.pt_model runs 100,000 operations in
 * the normal suite, unit.pt_model_1m runs 1,000,000 in the 'slow' suite.
 * Reproduce a failure with M2D_SEED=<seed printed> [M2D_PT_MODEL_OPS=n].
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmu2d/pt.h>

#include "core/compiler.h"

#ifndef PT_MODEL_OPS
#define PT_MODEL_OPS 100000
#endif

#define G (1ull << 30)
#define M2 (1ull << 21)
#define K4 (1ull << 12)

/* ---- seeded randomized model test -------------------------------------------- */

/*
 * Random map / unmap / unmap_free / split / collapse / protect operations
 * over a 1 TiB space, checked after every step against a flat reference
 * model: for each 1G block either a 1G leaf or 512 2M regions, each either
 * a 2M leaf or up to 512 4K leaves (address -> pfn, size, prot).  After
 * each operation the touched range (and every huge leaf the model split)
 * is compared entry by entry with the real table through the iterator;
 * periodically the whole space is compared, the shape statistics are
 * checked, and a shadow built only from the change hook's events must
 * equal the table's leaves exactly (so every change was reported once,
 * with the right old value).  M2D_SEED overrides the seed,
 * M2D_PT_MODEL_OPS the number of operations.
 */
#define MSPACE (1ull << 40)
#define MNG (MSPACE >> 30)
#define MNR (MSPACE >> 21)
#define MPROT_BASE (M2D_PROT_R | M2D_PROT_WB)
#define MPROT_VAR (M2D_PROT_W | M2D_PROT_X | M2D_PROT_SW0 | M2D_PROT_SW1)

struct msmall {
	uint64_t pfn[512];
	uint16_t prot[512]; /* 0: no leaf */
	unsigned n;
};

struct mregion {
	uint64_t pfn;
	uint16_t prot;      /* != 0: a 2M leaf */
	struct msmall *s;
};

struct mgiga {
	uint64_t pfn;
	uint16_t prot;      /* != 0: a 1G leaf */
	unsigned nonempty;  /* regions of the block holding a leaf */
};

struct shadow {
	uint64_t **l1;       /* [2M region] -> 512 4K leaf entries */
	uint64_t *l2;        /* [2M region] 2M leaf entry */
	uint64_t *l3;        /* [1G block] 1G leaf entry */
	uint64_t n;          /* leaves */
};

struct model {
	enum m2d_pt_format fmt;
	struct mgiga g[MNG];
	struct mregion *r;
	uint64_t leaves[4];
	struct shadow sh;
	uint64_t spans[64][2]; /* huge leaves split by the current op */
	int nspans;
	uint64_t rng;
	char op[160];
};

static uint64_t mrand(struct model *m)
{
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t mbelow(struct model *m, uint64_t n)
{
	return mrand(m) % n;
}

#define MCHECK(m, cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			print_message("model check failed: %s\n  during: %s\n", #cond, (m)->op); \
			fail();                                                \
		}                                                              \
	} while (0)

/*
 * The shadow: leaf entries by level and address, built from hook events
 * only (direct-indexed, so the check stays cache-friendly).  0 = none.
 */
static uint64_t *sh_slot(struct shadow *h, uint64_t addr, int level, bool alloc)
{
	if (addr >= MSPACE || level < 1 || level > 3)
		return NULL;
	if (level == 3)
		return &h->l3[addr >> 30];
	if (level == 2)
		return &h->l2[addr >> 21];
	if (!h->l1[addr >> 21]) {
		if (!alloc)
			return NULL;
		h->l1[addr >> 21] = calloc(512, sizeof(uint64_t));
		assert_non_null(h->l1[addr >> 21]);
	}
	return &h->l1[addr >> 21][(addr >> 12) & 511];
}

static bool sh_insert(struct shadow *h, uint64_t addr, int level, uint64_t v)
{
	uint64_t *slot = sh_slot(h, addr, level, true);

	if (!slot || *slot)
		return false;
	*slot = v;
	h->n++;
	return true;
}

static bool sh_get(struct shadow *h, uint64_t addr, int level, uint64_t *v)
{
	uint64_t *slot = sh_slot(h, addr, level, false);

	if (!slot || !*slot)
		return false;
	*v = *slot;
	return true;
}

/* Remove the entry at (@addr, @level); its value must be @v. */
static bool sh_remove(struct shadow *h, uint64_t addr, int level, uint64_t v)
{
	uint64_t *slot = sh_slot(h, addr, level, false);

	if (!slot || *slot != v)
		return false;
	*slot = 0;
	h->n--;
	return true;
}

/* The change hook: replay every event into the shadow, loudly. */
static void model_hook(void *priv, uint64_t addr, uint64_t old_pte, uint64_t new_pte, int level,
		       bool shared)
{
	struct model *m = priv;

	MCHECK(m, (addr & (m2d_level_size(level) - 1)) == 0);
	if (m2d_pte_is_leaf(m->fmt, old_pte, level))
		MCHECK(m, sh_remove(&m->sh, addr, level, old_pte));
	if (m2d_pte_is_leaf(m->fmt, new_pte, level))
		MCHECK(m, sh_insert(&m->sh, addr, level, new_pte));
}

static bool region_nonempty(const struct mregion *r)
{
	return r->prot || (r->s && r->s->n);
}

/* Wrap every region mutation: keep the block's non-empty count. */
static void region_begin(struct model *m, uint64_t ri, bool *was)
{
	*was = region_nonempty(&m->r[ri]);
}

static void region_end(struct model *m, uint64_t ri, bool was)
{
	bool is = region_nonempty(&m->r[ri]);

	if (is != was)
		m->g[ri / 512].nonempty += is ? 1 : (unsigned)-1;
}

static void region_clear(struct model *m, uint64_t ri)
{
	struct mregion *r = &m->r[ri];
	bool was;

	region_begin(m, ri, &was);
	if (r->prot)
		m->leaves[2]--;
	r->prot = 0;
	if (r->s) {
		m->leaves[1] -= r->s->n;
		free(r->s);
		r->s = NULL;
	}
	region_end(m, ri, was);
}

static void region_set_huge(struct model *m, uint64_t ri, uint64_t pfn, unsigned prot)
{
	region_clear(m, ri);
	m->r[ri].pfn = pfn;
	m->r[ri].prot = (uint16_t)prot;
	m->leaves[2]++;
	m->g[ri / 512].nonempty++;
}

static void small_set(struct model *m, uint64_t ri, unsigned i, uint64_t pfn, unsigned prot)
{
	struct mregion *r = &m->r[ri];
	bool was;

	region_begin(m, ri, &was);
	if (!r->s) {
		r->s = calloc(1, sizeof(*r->s));
		assert_non_null(r->s);
	}
	if (!r->s->prot[i]) {
		r->s->n++;
		m->leaves[1]++;
	}
	r->s->pfn[i] = pfn;
	r->s->prot[i] = (uint16_t)prot;
	region_end(m, ri, was);
}

static void small_clear(struct model *m, uint64_t ri, unsigned i)
{
	struct mregion *r = &m->r[ri];
	bool was;

	region_begin(m, ri, &was);
	if (r->s && r->s->prot[i]) {
		r->s->prot[i] = 0;
		r->s->n--;
		m->leaves[1]--;
	}
	region_end(m, ri, was);
}

static void note_split(struct model *m, uint64_t start, uint64_t size)
{
	if (m->nspans < 64) {
		m->spans[m->nspans][0] = start;
		m->spans[m->nspans][1] = size;
		m->nspans++;
	}
}

static void giga_split(struct model *m, uint64_t gi)
{
	struct mgiga *g = &m->g[gi];
	uint64_t pfn = g->pfn;
	unsigned prot = g->prot;

	g->prot = 0;
	m->leaves[3]--;
	for (unsigned j = 0; j < 512; j++)
		region_set_huge(m, gi * 512 + j, pfn + j * 512ull, prot);
	note_split(m, gi << 30, G);
}

static void giga_clear(struct model *m, uint64_t gi)
{
	if (m->g[gi].prot) {
		m->g[gi].prot = 0;
		m->leaves[3]--;
	}
	for (unsigned j = 0; j < 512 && m->g[gi].nonempty; j++)
		region_clear(m, gi * 512 + j);
}

static void giga_set(struct model *m, uint64_t gi, uint64_t pfn, unsigned prot)
{
	giga_clear(m, gi);
	m->g[gi].pfn = pfn;
	m->g[gi].prot = (uint16_t)prot;
	m->leaves[3]++;
}

static void region_split(struct model *m, uint64_t ri)
{
	struct mregion *r = &m->r[ri];
	uint64_t pfn = r->pfn;
	unsigned prot = r->prot;

	region_clear(m, ri);
	for (unsigned i = 0; i < 512; i++)
		small_set(m, ri, i, pfn + i, prot);
	note_split(m, ri << 21, M2);
}

/* Apply fn to every 4K slot of [s, e) inside region ri. */
static void model_map(struct model *m, uint64_t s, uint64_t e, int level, uint64_t pfn,
		      unsigned prot)
{
	for (uint64_t gi = s >> 30; gi <= (e - 1) >> 30; gi++) {
		uint64_t gs = gi << 30, lo = M2D_MAX(s, gs), hi = M2D_MIN(e, gs + G);

		if (level == 3) {
			giga_set(m, gi, pfn + ((gs - s) >> 12), prot);
			continue;
		}
		if (m->g[gi].prot) {
			if (gs >= s && gs + G <= e)
				giga_clear(m, gi);
			else
				giga_split(m, gi);
		}
		for (uint64_t ri = lo >> 21; ri <= (hi - 1) >> 21; ri++) {
			uint64_t rs = ri << 21, a0 = M2D_MAX(lo, rs), a1 = M2D_MIN(hi, rs + M2);

			if (level == 2) {
				region_set_huge(m, ri, pfn + ((rs - s) >> 12), prot);
				continue;
			}
			if (m->r[ri].prot) {
				if (rs >= s && rs + M2 <= e)
					region_clear(m, ri);
				else
					region_split(m, ri);
			}
			for (uint64_t a = a0; a < a1; a += K4)
				small_set(m, ri, (unsigned)((a >> 12) & 511), pfn + ((a - s) >> 12),
					  prot);
		}
	}
}

/* unmap (@set == @clear == 0 and @unmap) or protect: the leaf count changed. */
static uint64_t model_range(struct model *m, uint64_t s, uint64_t e, bool unmap, unsigned set,
			    unsigned clear)
{
	uint64_t count = 0;

	for (uint64_t gi = s >> 30; gi <= (e - 1) >> 30; gi++) {
		uint64_t gs = gi << 30, lo = M2D_MAX(s, gs), hi = M2D_MIN(e, gs + G);
		struct mgiga *g = &m->g[gi];

		if (g->prot) {
			if (gs >= s && gs + G <= e) {
				unsigned np = (g->prot | set) & ~clear;

				if (unmap) {
					giga_clear(m, gi);
					count++;
				} else if (np != g->prot) {
					g->prot = (uint16_t)np;
					count++;
				}
				continue;
			}
			giga_split(m, gi);
		}
		if (!g->nonempty)
			continue;
		for (uint64_t ri = lo >> 21; ri <= (hi - 1) >> 21; ri++) {
			struct mregion *r = &m->r[ri];
			uint64_t rs = ri << 21, a0 = M2D_MAX(lo, rs), a1 = M2D_MIN(hi, rs + M2);

			if (r->prot) {
				if (rs >= s && rs + M2 <= e) {
					unsigned np = (r->prot | set) & ~clear;

					if (unmap) {
						region_clear(m, ri);
						count++;
					} else if (np != r->prot) {
						r->prot = (uint16_t)np;
						count++;
					}
					continue;
				}
				region_split(m, ri);
			}
			if (!r->s)
				continue;
			for (uint64_t a = a0; a < a1; a += K4) {
				unsigned i = (unsigned)((a >> 12) & 511), p = r->s->prot[i];

				if (!p)
					continue;
				if (unmap) {
					small_clear(m, ri, i);
					count++;
				} else if (((p | set) & ~clear) != p) {
					r->s->prot[i] = (uint16_t)((p | set) & ~clear);
					count++;
				}
			}
		}
	}
	return count;
}

static int model_split(struct model *m, uint64_t a, int level)
{
	if (level == 3) {
		if (!m->g[a >> 30].prot)
			return -ENOENT;
		giga_split(m, a >> 30);
		return 0;
	}
	if (m->g[a >> 30].prot || !m->r[a >> 21].prot)
		return -ENOENT;
	region_split(m, a >> 21);
	return 0;
}

/* Return: 0 if collapsed, -1 if not collapsible. */
static int model_collapse(struct model *m, uint64_t a, int level)
{
	if (m->g[a >> 30].prot)
		return -1;
	if (level == 2) {
		struct mregion *r = &m->r[a >> 21];
		struct msmall *s = r->s;

		if (!s || s->n != 512 || s->pfn[0] % 512)
			return -1;
		for (unsigned i = 1; i < 512; i++)
			if (s->pfn[i] != s->pfn[0] + i || s->prot[i] != s->prot[0])
				return -1;
		region_set_huge(m, a >> 21, s->pfn[0], s->prot[0]);
		return 0;
	} else {
		uint64_t r0 = (a >> 30) * 512;

		if (!m->r[r0].prot || m->r[r0].pfn % (512 * 512))
			return -1;
		for (unsigned j = 1; j < 512; j++) {
			struct mregion *r = &m->r[r0 + j];

			if (!r->prot || r->pfn != m->r[r0].pfn + j * 512ull ||
			    r->prot != m->r[r0].prot)
				return -1;
		}
		giga_set(m, a >> 30, m->r[r0].pfn, m->r[r0].prot);
		return 0;
	}
}

/* The model's leaf containing @a: level (0 = none), first pfn, prot. */
static int model_lookup(struct model *m, uint64_t a, uint64_t *pfn, unsigned *prot)
{
	struct mgiga *g = &m->g[a >> 30];
	struct mregion *r;

	if (a >= MSPACE)
		return 0;
	if (g->prot) {
		*pfn = g->pfn;
		*prot = g->prot;
		return 3;
	}
	r = &m->r[a >> 21];
	if (r->prot) {
		*pfn = r->pfn;
		*prot = r->prot;
		return 2;
	}
	if (r->s && r->s->prot[(a >> 12) & 511]) {
		*pfn = r->s->pfn[(a >> 12) & 511];
		*prot = r->s->prot[(a >> 12) & 511];
		return 1;
	}
	return 0;
}

/* No model leaf intersects [a0, a1) (a0, a1 aligned to a level-L span). */
static bool model_absent(struct model *m, uint64_t a0, uint64_t a1, int level)
{
	uint64_t pfn;
	unsigned prot;

	if (a0 >= MSPACE)
		return true;
	a1 = M2D_MIN(a1, MSPACE);
	switch (level) {
	case 1:
		return !model_lookup(m, a0, &pfn, &prot);
	case 2:
		return !m->g[a0 >> 30].prot && !region_nonempty(&m->r[a0 >> 21]);
	default:
		for (uint64_t gi = a0 >> 30; gi < (a1 + G - 1) >> 30; gi++)
			if (m->g[gi].prot || m->g[gi].nonempty)
				return false;
		return true;
	}
}

/*
 * Compare [s, e) of the real table with the model through the iterator.
 * With @shadow, also check each leaf against the hook's shadow.
 * Return: number of present leaves visited.
 */
static uint64_t check_range(struct model *m, struct m2d_pt *pt, uint64_t s, uint64_t e,
			    bool shadow)
{
	struct m2d_pt_iter it;
	uint64_t n = 0;

	m2d_pt_for_each_pte(it, pt, s, e) {
		uint64_t pte = it.old_pte, size = m2d_level_size(it.level);

		if (m2d_pte_is_leaf(m->fmt, pte, it.level)) {
			uint64_t pfn = 0, v = 0;
			unsigned prot = 0;
			int l = model_lookup(m, it.addr, &pfn, &prot);

			MCHECK(m, l == it.level);
			MCHECK(m, m2d_pte_pfn(m->fmt, pte, it.level) == pfn);
			MCHECK(m, m2d_pte_prot(m->fmt, pte, it.level) == prot);
			if (shadow) {
				MCHECK(m, sh_get(&m->sh, it.addr, it.level, &v));
				MCHECK(m, v == pte);
			}
			n++;
		} else if (!m2d_pte_is_present(m->fmt, pte)) {
			MCHECK(m, pte == 0);
			MCHECK(m, model_absent(m, it.addr, it.addr + size, it.level));
		}
	}
	return n;
}

static void check_full(struct model *m, struct m2d_pt *pt)
{
	struct m2d_pt_stats st;
	uint64_t n = check_range(m, pt, 0, m2d_pt_max_addr(pt), true);

	m2d_pt_stats_get(pt, &st);
	MCHECK(m, st.leaves[1] == m->leaves[1]);
	MCHECK(m, st.leaves[2] == m->leaves[2]);
	MCHECK(m, st.leaves[3] == m->leaves[3]);
	MCHECK(m, n == m->leaves[1] + m->leaves[2] + m->leaves[3]);
	MCHECK(m, m->sh.n == n);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static void model_run(enum m2d_pt_format fmt, uint64_t seed, uint64_t nops)
{
	struct model *m = calloc(1, sizeof(*m));
	struct m2d_pt_config cfg;
	struct m2d_pt *pt = NULL;
	uint64_t hot[16], recent[8] = { 0 };
	uint64_t stat_ops[6] = { 0 }, stat_ok[6] = { 0 };

	assert_non_null(m);
	m->fmt = fmt;
	m->rng = seed;
	m->r = calloc(MNR, sizeof(*m->r));
	m->sh.l1 = calloc(MNR, sizeof(*m->sh.l1));
	m->sh.l2 = calloc(MNR, sizeof(*m->sh.l2));
	m->sh.l3 = calloc(MNG, sizeof(*m->sh.l3));
	assert_true(m->r && m->sh.l1 && m->sh.l2 && m->sh.l3);
	m2d_pt_config_default(&cfg);
	cfg.format = fmt;
	cfg.changed = model_hook;
	cfg.changed_priv = m;
	assert_int_equal(m2d_pt_create(&pt, &cfg), 0);
	for (int i = 0; i < 16; i++)
		hot[i] = mbelow(m, MNG);

	for (uint64_t op = 0; op < nops; op++) {
		uint64_t kind = mbelow(m, 100), gi, s, e, len, pfn;
		int level, ret, mret;

		gi = mbelow(m, 100) < 95 ? hot[mbelow(m, 16)] : mbelow(m, MNG);
		m->nspans = 0;
		if (kind < 35) { /* map */
			uint64_t n, pages;
			unsigned prot = MPROT_BASE | (unsigned)(mrand(m) & MPROT_VAR);

			level = mbelow(m, 10) < 6 ? 1 : mbelow(m, 4) ? 2 : 3;
			pages = m2d_level_size(level) >> 12;
			if (level == 1) {
				n = mbelow(m, 4) ? 1 + mbelow(m, 512) : 512;
				s = (gi << 30) + (n == 512 ? mbelow(m, 512) << 21 : mbelow(m, 262144) << 12);
			} else if (level == 2) {
				n = mbelow(m, 50) ? 1 + mbelow(m, 16) : 512;
				s = (gi << 30) + (n == 512 ? 0 : mbelow(m, 512) << 21);
			} else {
				n = 1 + mbelow(m, 2);
				s = gi << 30;
			}
			len = M2D_MIN(n * m2d_level_size(level), MSPACE - s);
			e = s + len;
			/* frames below 2^36 (arm64's 48-bit OA), aligned to the level;
			 * whole-table maps get frames aligned for a later collapse */
			pfn = mbelow(m, (1ull << 36) - (len >> 12)) & ~(pages - 1);
			if (n == 512)
				pfn &= ~(pages * 512 - 1);
			snprintf(m->op, sizeof(m->op),
				 "op %" PRIu64 ": map [%#" PRIx64 ", %#" PRIx64 ") level %d pfn %#" PRIx64
				 " prot %#x", op, s, e, level, pfn, prot);
			ret = m2d_pt_map_range(pt, s, len, pfn, level, prot);
			MCHECK(m, ret == 0);
			model_map(m, s, e, level, pfn, prot);
			stat_ops[0]++;
			stat_ok[0]++;
		} else if (kind < 60) { /* unmap or unmap_free */
			uint64_t r = mbelow(m, 100);
			bool do_free = mbelow(m, 2);
			uint64_t cnt;

			s = (gi << 30) + (mbelow(m, 262144) << 12);
			if (r < 70)
				len = (1 + mbelow(m, 512)) * K4;
			else if (r < 99)
				len = (1 + mbelow(m, 16)) * M2;
			else
				len = (1 + mbelow(m, 2)) * G;
			len = M2D_MIN(len, MSPACE - s);
			e = s + len;
			snprintf(m->op, sizeof(m->op),
				 "op %" PRIu64 ": unmap%s [%#" PRIx64 ", %#" PRIx64 ")", op,
				 do_free ? "_free" : "", s, e);
			cnt = do_free ? m2d_pt_unmap_free_range(pt, s, len)
				      : m2d_pt_unmap_range(pt, s, len);
			MCHECK(m, cnt == model_range(m, s, e, true, 0, 0));
			stat_ops[1]++;
			stat_ok[1] += cnt > 0;
		} else if (kind < 75) { /* protect */
			unsigned set = (unsigned)(mrand(m) & MPROT_VAR), clear;
			uint64_t cnt;

			clear = (unsigned)(mrand(m) & MPROT_VAR) & ~set;
			s = (gi << 30) + (mbelow(m, 262144) << 12);
			len = mbelow(m, 3) ? (1 + mbelow(m, 512)) * K4 : (1 + mbelow(m, 8)) * M2;
			len = M2D_MIN(len, MSPACE - s);
			e = s + len;
			snprintf(m->op, sizeof(m->op),
				 "op %" PRIu64 ": protect [%#" PRIx64 ", %#" PRIx64 ") set %#x clear %#x",
				 op, s, e, set, clear);
			cnt = m2d_pt_protect_range(pt, s, len, set, clear);
			MCHECK(m, cnt == model_range(m, s, e, false, set, clear));
			stat_ops[2]++;
			stat_ok[2] += cnt > 0;
		} else if (kind < 87) { /* split */
			level = mbelow(m, 3) ? 2 : 3;
			s = (gi << 30) + (level == 2 ? mbelow(m, 512) << 21 : 0);
			e = s + m2d_level_size(level);
			snprintf(m->op, sizeof(m->op), "op %" PRIu64 ": split %#" PRIx64 " level %d",
				 op, s, level);
			ret = m2d_pt_split(pt, s, level);
			mret = model_split(m, s, level);
			MCHECK(m, ret == mret);
			if (!ret)
				recent[mbelow(m, 8)] = s | (uint64_t)level;
			stat_ops[3]++;
			stat_ok[3] += !ret;
		} else { /* collapse */
			if (mbelow(m, 2) && recent[op % 8]) {
				s = recent[op % 8] & ~0xfffull;
				level = (int)(recent[op % 8] & 0xf);
			} else {
				level = mbelow(m, 3) ? 2 : 3;
				s = (gi << 30) + (level == 2 ? mbelow(m, 512) << 21 : 0);
			}
			e = s + m2d_level_size(level);
			snprintf(m->op, sizeof(m->op), "op %" PRIu64 ": collapse %#" PRIx64 " level %d",
				 op, s, level);
			ret = m2d_pt_collapse(pt, s, level);
			mret = model_collapse(m, s, level);
			if (mret)
				MCHECK(m, ret == -EINVAL || ret == -ENOENT);
			else
				MCHECK(m, ret == 0);
			stat_ops[4]++;
			stat_ok[4] += !ret;
		}
		check_range(m, pt, s, e, false);
		for (int i = 0; i < m->nspans; i++)
			check_range(m, pt, m->spans[i][0], m->spans[i][0] + m->spans[i][1], false);
		if ((op + 1) % 100000 == 0 || op + 1 == nops)
			check_full(m, pt);
	}
	print_message("  format %d: %" PRIu64 " ops (map %" PRIu64 ", unmap %" PRIu64 "/%" PRIu64
		      " hit, protect %" PRIu64 "/%" PRIu64 ", split %" PRIu64 "/%" PRIu64
		      ", collapse %" PRIu64 "/%" PRIu64 " ok); leaves now %" PRIu64 "/%" PRIu64
		      "/%" PRIu64 "\n",
		      (int)fmt, nops, stat_ops[0], stat_ok[1], stat_ops[1], stat_ok[2], stat_ops[2],
		      stat_ok[3], stat_ops[3], stat_ok[4], stat_ops[4], m->leaves[1], m->leaves[2],
		      m->leaves[3]);
	/* Unmapping everything leaves the hook shadow empty. */
	snprintf(m->op, sizeof(m->op), "final unmap_free");
	m2d_pt_unmap_free_range(pt, 0, MSPACE);
	model_range(m, 0, MSPACE, true, 0, 0);
	check_full(m, pt);
	MCHECK(m, m->sh.n == 0);
	{
		struct m2d_pt_stats st;

		m2d_pt_stats_get(pt, &st);
		MCHECK(m, st.tables[1] + st.tables[2] + st.tables[3] == 0);
		MCHECK(m, st.table_bytes == 4096);
	}
	m2d_pt_destroy(&pt);
	for (uint64_t i = 0; i < MNR; i++) {
		free(m->r[i].s);
		free(m->sh.l1[i]);
	}
	free(m->r);
	free(m->sh.l1);
	free(m->sh.l2);
	free(m->sh.l3);
	free(m);
}

static void test_pt_model_random(void **state)
{
	uint64_t seed = env_u64("M2D_SEED", 20261122);
	uint64_t nops = env_u64("M2D_PT_MODEL_OPS", PT_MODEL_OPS);

	print_message("test_pt_model_random: seed %" PRIu64 " (M2D_SEED=%" PRIu64
		      " to reproduce), %" PRIu64 " ops\n", seed, seed, nops);
	for (int f = 0; f < M2D_PT_FORMAT_NR; f++)
		model_run((enum m2d_pt_format)f, seed + (uint64_t)f, (nops + 2) / 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pt_model_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
