// SPDX-License-Identifier: MIT
/*
 * lib/mm/mm.c - host process address spaces: mm creation and teardown, the
 * VMA set, mmap, munmap, madvise (mm/mmap.c, mm/vma.c, mm/madvise.c).
 *
 * VMAs are kept in an array sorted by address (the maple tree's role):
 * lookups are a binary search, inserts and removals a memmove.  Processes
 * in the modelled workloads have a handful of VMAs; the randomized test
 * keeps a few hundred.
 *
 * Locking follows the kernel: mmap, munmap, mprotect, madvise(HUGEPAGE,
 * NOHUGEPAGE, SPLIT, COLLAPSE on HugeTLB) take mmap_write_lock;
 * madvise(DONTNEED) takes mmap_read_lock; page faults from user accesses
 * and slow GUP take mmap_read_lock.  Every function that needs the lock
 * asserts it (mmap_assert_locked / mmap_assert_write_locked).
 */
#include "mm/mm_types.h"

#include <errno.h>
#include <string.h>


/* ---- mmap_lock ----------------------------------------------------------- */

struct m2d_rwsem *m2d_mm_mmap_lock(struct m2d_mm *mm)
{
	return &mm->mmap_lock;
}

struct m2d_pt *m2d_mm_pgd(struct m2d_mm *mm)
{
	return mm->pgd;
}

/* mmap_assert_locked(): lockdep, plus the rwsem state in debug builds (VM_BUG_ON_MM). */
void m2d_mmap_assert_locked(struct m2d_mm *mm)
{
	lockdep_assert_held(&mm->mmap_lock);
#if M2D_DEBUG_CHECKS
	M2D_BUG_ON(!mm->mmap_lock.writer && !mm->mmap_lock.readers);
#endif
}

void m2d_mmap_assert_write_locked(struct m2d_mm *mm)
{
	lockdep_assert_held_write(&mm->mmap_lock);
#if M2D_DEBUG_CHECKS
	M2D_BUG_ON(!mm->mmap_lock.writer);
#endif
}

/* ---- creation ------------------------------------------------------------ */

void m2d_mm_config_default(struct m2d_mm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->arch = M2D_MM_ARCH_X86_64;
	cfg->notifier = M2D_MM_NOTIFIER_PUD;
	cfg->mapcount = M2D_MM_MAPCOUNT_THP_LIKE;
	cfg->thp = M2D_MM_THP_MADVISE;
	cfg->node = 0;
	cfg->mmap_base = 0x7f0000000000ull;
}

static int mm_alloc(struct m2d_mm **out, struct m2d_host *host, const struct m2d_mm_config *cfg)
{
	struct m2d_pt_config pc;
	struct m2d_mm *mm;
	int ret;

	M2D_VALIDATE_OR_RET(out && host && cfg, -EINVAL);
	/* configuration comes from users (CLI options): bad values are -EINVAL, never fatal */
	if ((unsigned)cfg->arch >= M2D_MM_ARCH_NR || (unsigned)cfg->notifier >= M2D_MM_NOTIFIER_NR ||
	    (unsigned)cfg->mapcount >= M2D_MM_MAPCOUNT_NR || (unsigned)cfg->thp >= M2D_MM_THP_NR)
		return -EINVAL;
	if (cfg->node < -1 || (cfg->node >= 0 && (unsigned)cfg->node >= m2d_host_nr_nodes(host)))
		return -EINVAL;
	if (cfg->mmap_base <= MMAP_MIN_ADDR || cfg->mmap_base > TASK_SIZE ||
	    (cfg->mmap_base & (M2D_PAGE_SIZE - 1)))
		return -EINVAL;

	mm = m2d_zalloc(M2D_ALLOC_MM, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	mm->cfg = *cfg;
	mm->host = host;
	/*
	 * Host page tables: x86-64 4-level.  arm64 hosts use the 4K-granule
	 * 4-level geometry (48-bit VA); the stage-2 descriptor format stands in
	 * for stage-1 (same levels and block sizes; only attribute bits differ).
	 */
	m2d_pt_config_default(&pc);
	pc.format = cfg->arch == M2D_MM_ARCH_ARM64 ? M2D_PT_ARM64_S2 : M2D_PT_X86_64;
	pc.levels = 4;
	ret = m2d_pt_create(&mm->pgd, &pc);
	if (ret) {
		m2d_free(M2D_ALLOC_MM, mm, sizeof(*mm));
		return ret;
	}
	mm->fmt = pc.format;
	init_rwsem(&mm->mmap_lock, "mmap_lock", M2D_RANK_MMAP_LOCK);
	spin_lock_init(&mm->page_table_lock, "page_table_lock", M2D_RANK_PTL);
	for (int i = 0; i < M2D_MM_NR_PTL; i++)
		spin_lock_init(&mm->ptl[i], "ptlock", M2D_RANK_PTL);
	CDS_INIT_LIST_HEAD(&mm->notifiers);
	*out = mm;
	return 0;
}

int m2d_mm_create(struct m2d_mm **out, struct m2d_host *host, const struct m2d_mm_config *cfg)
{
	M2D_VALIDATE_OR_RET(out && host && cfg, -EINVAL);
	return mm_call_entered(host, mm_alloc(out, host, cfg));
}

static void vma_free(struct m2d_vma *vma)
{
	struct m2d_vma_ext *ext = vma_ext(vma);

	if (ext->has_vma_lock)
		m2d_lock_fini(&ext->hugetlb_vma_lock.c);
	if (vma->vm_file)
		m2d_file_put(&vma->vm_file);
	m2d_free(M2D_ALLOC_MM, ext, sizeof(*ext));
}

static struct m2d_vma *vma_alloc(struct m2d_mm *mm)
{
	struct m2d_vma_ext *ext = m2d_zalloc(M2D_ALLOC_MM, sizeof(*ext));

	if (!ext)
		return NULL;
	ext->vma.vm_mm = mm;
	return &ext->vma;
}

/* vm_area_dup(): a copy holding its own file reference and VMA lock. */
static struct m2d_vma *vma_dup(struct m2d_vma *orig)
{
	struct m2d_vma *vma = vma_alloc(orig->vm_mm);

	if (!vma)
		return NULL;
	vma->vm_start = orig->vm_start;
	vma->vm_end = orig->vm_end;
	vma->vm_flags = orig->vm_flags;
	vma->vm_pgoff = orig->vm_pgoff;
	vma->vm_file = orig->vm_file;
	if (vma->vm_file)
		m2d_file_get(vma->vm_file);
	if (vma_ext(orig)->has_vma_lock) {
		init_rwsem(&vma_ext(vma)->hugetlb_vma_lock, "hugetlb_vma_lock",
			   (enum m2d_lock_rank)(M2D_RANK_I_MMAP - 1));
		vma_ext(vma)->has_vma_lock = true;
	}
	return vma;
}

static void mmput(struct m2d_mm **pmm)
{
	struct m2d_mm *mm = pmm ? *pmm : NULL;

	if (!mm)
		return;
	/* exit_mmap(): mmu_notifier_release, then unmap and free everything */
	mm_notifier_release(mm);
	mmap_write_lock(mm);
	for (size_t i = 0; i < mm->nr_vmas; i++) {
		struct m2d_vma *vma = mm->vmas[i];

		mm_unmap_page_range(mm, vma, vma->vm_start, vma->vm_end);
	}
	mm_free_pgtables(mm, 0, TASK_SIZE, 0, TASK_SIZE);
	for (size_t i = 0; i < mm->nr_vmas; i++)
		vma_free(mm->vmas[i]);
	mmap_write_unlock(mm);
	m2d_free(M2D_ALLOC_MM, mm->vmas, mm->cap_vmas * sizeof(*mm->vmas));
	m2d_pt_destroy(&mm->pgd);
	m2d_lock_fini(&mm->mmap_lock.c);
	m2d_lock_fini(&mm->page_table_lock.c);
	for (int i = 0; i < M2D_MM_NR_PTL; i++)
		m2d_lock_fini(&mm->ptl[i].c);
	m2d_free(M2D_ALLOC_MM, mm, sizeof(*mm));
	*pmm = NULL;
}

void m2d_mm_destroy(struct m2d_mm **pmm)
{
	struct m2d_host *host;
	bool entered;

	if (!pmm || !*pmm)
		return;
	host = (*pmm)->host;
	entered = mm_engine_enter(host);
	mmput(pmm);
	mm_engine_leave(host, entered);
}

/* ---- the VMA set -------------------------------------------------------- */

size_t mm_vma_index(struct m2d_mm *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->nr_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->vm_end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* find_vma(): the first VMA ending above @addr. */
struct m2d_vma *mm_find_vma(struct m2d_mm *mm, uint64_t addr)
{
	size_t i = mm_vma_index(mm, addr);

	return i < mm->nr_vmas ? mm->vmas[i] : NULL;
}

struct m2d_vma *m2d_vma_lookup(struct m2d_mm *mm, uint64_t addr)
{
	struct m2d_vma *vma;

	mmap_assert_locked(mm);
	vma = mm_find_vma(mm, addr);
	return vma && vma->vm_start <= addr ? vma : NULL;
}

uint64_t m2d_vma_kernel_pagesize(const struct m2d_vma *vma)
{
	if (is_vm_hugetlb_page(vma) && vma->vm_file)
		return file_page_size(vma->vm_file);
	return M2D_PAGE_SIZE;
}

static int vma_insert_at(struct m2d_mm *mm, size_t idx, struct m2d_vma *vma)
{
	if (mm->nr_vmas == mm->cap_vmas) {
		size_t cap = mm->cap_vmas ? mm->cap_vmas * 2 : 8;
		struct m2d_vma **v = mm->vmas
			? m2d_realloc(M2D_ALLOC_MM, mm->vmas, mm->cap_vmas * sizeof(*v),
				      cap * sizeof(*v))
			: m2d_malloc(M2D_ALLOC_MM, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		mm->vmas = v;
		mm->cap_vmas = cap;
	}
	memmove(&mm->vmas[idx + 1], &mm->vmas[idx], (mm->nr_vmas - idx) * sizeof(*mm->vmas));
	mm->vmas[idx] = vma;
	mm->nr_vmas++;
	mm->stats.vmas = mm->nr_vmas;
	m2d_delay(M2D_COST_MM_VMA_MODIFY, 1);
	return 0;
}

static void vma_remove_at(struct m2d_mm *mm, size_t idx)
{
	memmove(&mm->vmas[idx], &mm->vmas[idx + 1], (mm->nr_vmas - idx - 1) * sizeof(*mm->vmas));
	mm->nr_vmas--;
	mm->stats.vmas = mm->nr_vmas;
	m2d_delay(M2D_COST_MM_VMA_MODIFY, 1);
}

/*
 * __split_vma(): split vmas[@idx] at @addr; the upper part becomes a new VMA
 * at @idx + 1.  vma_adjust_trans_huge(): a huge entry (THP or huge pfnmap)
 * straddling @addr is split first.  HugeTLB VMAs split only at huge-page
 * boundaries (hugetlb_vm_op_split).
 * Return: 0, -EINVAL, -ENOMEM.
 */
static int split_vma(struct m2d_mm *mm, size_t idx, uint64_t addr)
{
	struct m2d_vma *vma = mm->vmas[idx], *new;
	int ret;

	mmap_assert_write_locked(mm);
	if (M2D_WARN_ON_ONCE(addr <= vma->vm_start || addr >= vma->vm_end))
		return -EINVAL;
	if (is_vm_hugetlb_page(vma) && (addr & (m2d_vma_kernel_pagesize(vma) - 1)))
		return -EINVAL;
	if (!is_vm_hugetlb_page(vma)) {
		for (int level = M2D_LEVEL_1G; level >= M2D_LEVEL_2M; level--) {
			int leaf;
			uint64_t *ptep;

			if (!(addr & (m2d_level_size(level) - 1)))
				continue;
			ptep = mm_entry(mm, addr, level, false, &leaf);
			if (ptep && m2d_pte_is_leaf(mm->fmt, READ_ONCE(*ptep), level)) {
				if (level == M2D_LEVEL_2M)
					mm_split_huge_pmd(mm, vma, ptep, addr);
				else
					mm_split_huge_pud(mm, vma, ptep, addr);
			}
		}
	}
	new = vma_dup(vma);
	if (!new)
		return -ENOMEM;
	new->vm_start = addr;
	if (vma->vm_file || (vma->vm_flags & VM_PFNMAP))
		new->vm_pgoff += (addr - vma->vm_start) >> M2D_PAGE_SHIFT;
	ret = vma_insert_at(mm, idx + 1, new);
	if (ret) {
		vma_free(new);
		return ret;
	}
	vma->vm_end = addr;
	return 0;
}

/* is_mergeable_vma() + can_vma_merge_after(): may @b follow @a as one VMA? */
static bool vmas_mergeable(const struct m2d_vma *a, const struct m2d_vma *b)
{
	if (a->vm_end != b->vm_start || a->vm_flags != b->vm_flags || a->vm_file != b->vm_file)
		return false;
	/* VM_SPECIAL mappings and HugeTLB (vm_ops->close) never merge */
	if (a->vm_flags & (VM_PFNMAP | VM_IO | VM_HUGETLB))
		return false;
	if (a->vm_file)
		return a->vm_pgoff + ((a->vm_end - a->vm_start) >> M2D_PAGE_SHIFT) == b->vm_pgoff;
	return true;
}

/* vma_merge(): merge vmas[@idx] with its neighbours where possible. Return: the new index. */
static size_t vma_merge(struct m2d_mm *mm, size_t idx)
{
	if (idx + 1 < mm->nr_vmas && vmas_mergeable(mm->vmas[idx], mm->vmas[idx + 1])) {
		struct m2d_vma *next = mm->vmas[idx + 1];

		mm->vmas[idx]->vm_end = next->vm_end;
		vma_remove_at(mm, idx + 1);
		vma_free(next);
	}
	if (idx > 0 && vmas_mergeable(mm->vmas[idx - 1], mm->vmas[idx])) {
		struct m2d_vma *vma = mm->vmas[idx];

		mm->vmas[idx - 1]->vm_end = vma->vm_end;
		vma_remove_at(mm, idx);
		vma_free(vma);
		idx--;
	}
	return idx;
}

/*
 * Make [@start, @end) of vmas[*@idx] a VMA of its own (mprotect_fixup and
 * madvise_update_vma's splits).  *@idx is updated to the middle part.
 */
static int vma_isolate(struct m2d_mm *mm, size_t *idx, uint64_t start, uint64_t end)
{
	struct m2d_vma *vma = mm->vmas[*idx];
	int ret;

	if (start > vma->vm_start) {
		ret = split_vma(mm, *idx, start);
		if (ret)
			return ret;
		(*idx)++;
		vma = mm->vmas[*idx];
	}
	if (end < vma->vm_end) {
		ret = split_vma(mm, *idx, end);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * vma_modify_flags(): give [@start, @end) of vmas[*@idx] the flags
 * @newflags, splitting and merging as needed.  *@idx ends on the VMA that
 * holds @start.  Return: 0, -EINVAL, -ENOMEM.
 */
int mm_vma_modify_flags(struct m2d_mm *mm, size_t *idx, uint64_t start, uint64_t end,
			unsigned newflags)
{
	int ret;

	mmap_assert_write_locked(mm);
	if (mm->vmas[*idx]->vm_flags == newflags)
		return 0;
	ret = vma_isolate(mm, idx, start, end);
	if (ret)
		return ret;
	mm->vmas[*idx]->vm_flags = newflags;
	*idx = vma_merge(mm, *idx);
	return 0;
}

/* ---- mmap ------------------------------------------------------------------ */

/*
 * get_unmapped_area() top-down (arch_get_unmapped_area_topdown): the highest
 * gap below mmap_base that fits @len at @align.  Return: the address, or 0.
 */
static uint64_t get_unmapped_area(struct m2d_mm *mm, uint64_t len, uint64_t align)
{
	uint64_t top = mm->cfg.mmap_base;

	for (size_t i = mm_vma_index(mm, top - 1) + 1; i-- > 0;) {
		uint64_t gap_end = i < mm->nr_vmas ? M2D_MIN(mm->vmas[i]->vm_start, top) : top;
		uint64_t gap_start = i > 0 ? mm->vmas[i - 1]->vm_end : MMAP_MIN_ADDR;
		uint64_t addr;

		if (gap_start < MMAP_MIN_ADDR)
			gap_start = MMAP_MIN_ADDR;
		if (gap_end <= gap_start || gap_end - gap_start < len)
			continue;
		addr = (gap_end - len) & ~(align - 1);
		if (addr >= gap_start)
			return addr;
	}
	return 0;
}

static bool range_is_free(struct m2d_mm *mm, uint64_t start, uint64_t end)
{
	struct m2d_vma *vma = mm_find_vma(mm, start);

	return !vma || vma->vm_start >= end;
}

static int do_munmap(struct m2d_mm *mm, uint64_t start, uint64_t end);

/* mmap_region(): insert a VMA for [@addr, @addr + @len). Caller holds mmap_write_lock. */
static int mmap_region(struct m2d_mm *mm, struct m2d_vma *vma)
{
	size_t idx = mm_vma_index(mm, vma->vm_start);
	int ret;

	mmap_assert_write_locked(mm);
	ret = vma_insert_at(mm, idx, vma);
	if (ret)
		return ret;
	vma_merge(mm, idx);
	return 0;
}

static int mmap_common(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned flags,
		       uint64_t align, struct m2d_vma *vma, uint64_t *out_addr)
{
	int ret;

	m2d_delay(M2D_COST_MM_SYSCALL, 1);
	mm_note_cpu(mm);
	mmap_write_lock(mm);
	if (!addr) {
		addr = get_unmapped_area(mm, len, align);
		if (!addr) {
			ret = -ENOMEM;
			goto err_unlock;
		}
	} else if (!range_is_free(mm, addr, addr + len)) {
		if (flags & M2D_MAP_FIXED) {
			ret = do_munmap(mm, addr, addr + len);
			if (ret)
				goto err_unlock;
		} else {
			/* a hint that overlaps is ignored: search as for addr 0 */
			addr = get_unmapped_area(mm, len, align);
			if (!addr) {
				ret = -ENOMEM;
				goto err_unlock;
			}
		}
	}
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	ret = mmap_region(mm, vma);
	if (ret)
		goto err_unlock;
	mmap_write_unlock(mm);
	*out_addr = addr;
	return 0;

err_unlock:
	mmap_write_unlock(mm);
	vma_free(vma);
	return ret;
}

static int do_mmap(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned prot,
		   unsigned flags, struct m2d_file *file, uint64_t off, uint64_t *out_addr)
{
	uint64_t align = M2D_PAGE_SIZE;
	struct m2d_file *anon_file = NULL;
	struct m2d_vma *vma;
	bool shared;
	int ret;

	M2D_VALIDATE_OR_RET(mm && out_addr, -EINVAL);
	if (prot & ~(unsigned)(M2D_PROT_READ | M2D_PROT_WRITE | M2D_PROT_EXEC))
		return -EINVAL;
	if (flags & ~(unsigned)(M2D_MAP_SHARED | M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS |
				M2D_MAP_FIXED | M2D_MAP_HUGETLB | M2D_MAP_HUGE_1GB))
		return -EINVAL;
	if ((flags & M2D_MAP_HUGE_1GB) && !(flags & M2D_MAP_HUGETLB))
		return -EINVAL;
	if ((flags & M2D_MAP_HUGETLB) && !(flags & M2D_MAP_ANONYMOUS))
		return -EINVAL; /* a hugetlbfs file is mapped as a file */
	shared = flags & M2D_MAP_SHARED;
	if (shared == !!(flags & M2D_MAP_PRIVATE))
		return -EINVAL;
	if (!!(flags & M2D_MAP_ANONYMOUS) == !!file)
		return -EINVAL;
	/* MAP_PRIVATE file mappings (COW of page-cache pages) are not modelled */
	if (file && !shared)
		return -EINVAL;
	if (!len || len > TASK_SIZE)
		return -EINVAL;
	len = M2D_ALIGN_UP(len, M2D_PAGE_SIZE);
	if (flags & M2D_MAP_HUGETLB) {
		/* hugetlb_file_setup(): an internal hugetlbfs file backs the mapping */
		enum m2d_file_kind kind = (flags & M2D_MAP_HUGE_1GB) ? M2D_FILE_HUGETLB_1G
								     : M2D_FILE_HUGETLB_2M;
		uint64_t psize = kind == M2D_FILE_HUGETLB_1G ? M2D_PUD_SIZE : M2D_PMD_SIZE;

		if (len > TASK_SIZE - psize)
			return -EINVAL;
		len = M2D_ALIGN_UP(len, psize);
		ret = m2d_memfd_create(mm->host, len, kind, &anon_file);
		if (ret)
			return ret;
		file = anon_file;
		off = 0;
	}
	if (file) {
		uint64_t psize = file_page_size(file);

		if (file->kind != M2D_FILE_SHMEM) {
			len = M2D_ALIGN_UP(len, psize);	/* hugetlbfs rounds the length up */
			align = psize;
		}
		if ((off & (psize - 1)) || off > file->size || len > file->size - off) {
			m2d_file_put(&anon_file);
			return -EINVAL;
		}
	} else if (len >= M2D_PMD_SIZE) {
		align = M2D_PMD_SIZE; /* thp_get_unmapped_area() */
	}
	if (addr && ((addr & (M2D_PAGE_SIZE - 1)) || addr < MMAP_MIN_ADDR ||
		     addr > TASK_SIZE - len)) {
		m2d_file_put(&anon_file);
		return -EINVAL;
	}
	/* hugetlbfs: the address must be huge-page aligned (hugetlb_get_unmapped_area) */
	if (addr && file && file->kind != M2D_FILE_SHMEM && (addr & (align - 1))) {
		if (flags & M2D_MAP_FIXED) {
			m2d_file_put(&anon_file);
			return -EINVAL;
		}
		addr = 0; /* an unaligned hint is only a hint */
	}

	if (!file && shared) {
		/* shmem_zero_setup(): MAP_SHARED|MAP_ANONYMOUS is backed by a shmem file */
		ret = m2d_memfd_create(mm->host, len, M2D_FILE_SHMEM, &anon_file);
		if (ret)
			return ret;
		file = anon_file;
		off = 0;
	}
	vma = vma_alloc(mm);
	if (!vma) {
		m2d_file_put(&anon_file);
		return -ENOMEM;
	}
	vma->vm_flags = VM_MAYWRITE | calc_vm_prot_bits(prot);
	if (shared)
		vma->vm_flags |= VM_SHARED;
	if (file) {
		vma->vm_file = file;
		if (!anon_file)
			m2d_file_get(file);
		vma->vm_pgoff = off >> M2D_PAGE_SHIFT;
		if (file->kind != M2D_FILE_SHMEM) {
			vma->vm_flags |= VM_HUGETLB | VM_DONTEXPAND;
			init_rwsem(&vma_ext(vma)->hugetlb_vma_lock, "hugetlb_vma_lock",
				   (enum m2d_lock_rank)(M2D_RANK_I_MMAP - 1));
			vma_ext(vma)->has_vma_lock = true;
		}
	}
	return mmap_common(mm, addr, len, flags, align, vma, out_addr);
}

int m2d_mm_mmap(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned prot, unsigned flags,
		struct m2d_file *file, uint64_t off, uint64_t *out_addr)
{
	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	return mm_call_entered(mm->host,
			       do_mmap(mm, addr, len, prot, flags, file, off, out_addr));
}

static int do_mmap_pfn(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned prot,
		       m2d_pfn_t pfn, uint64_t *out_addr)
{
	uint64_t align = M2D_PAGE_SIZE;
	struct m2d_vma *vma;

	M2D_VALIDATE_OR_RET(mm && out_addr, -EINVAL);
	if (prot & ~(unsigned)(M2D_PROT_READ | M2D_PROT_WRITE | M2D_PROT_EXEC))
		return -EINVAL;
	if (!len || len > TASK_SIZE || (len & (M2D_PAGE_SIZE - 1)))
		return -EINVAL;
	if (addr && ((addr & (M2D_PAGE_SIZE - 1)) || addr < MMAP_MIN_ADDR ||
		     addr > TASK_SIZE - len))
		return -EINVAL;
	/* vfio-pci's get_unmapped_area aligns to the largest huge size the BAR allows */
	for (int level = M2D_LEVEL_1G; level > M2D_LEVEL_4K; level--) {
		uint64_t size = m2d_level_size(level);

		if (len >= size && !(m2d_pfn_as_u64(pfn) & ((size >> M2D_PAGE_SHIFT) - 1))) {
			align = size;
			break;
		}
	}
	vma = vma_alloc(mm);
	if (!vma)
		return -ENOMEM;
	vma->vm_flags = VM_SHARED | VM_MAYWRITE | VM_IO | VM_PFNMAP | VM_DONTEXPAND |
			calc_vm_prot_bits(prot);
	vma->vm_pgoff = m2d_pfn_as_u64(pfn);
	return mmap_common(mm, addr, len, M2D_MAP_SHARED, align, vma, out_addr);
}

int m2d_mm_mmap_pfn(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned prot,
		    m2d_pfn_t pfn, uint64_t *out_addr)
{
	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	return mm_call_entered(mm->host, do_mmap_pfn(mm, addr, len, prot, pfn, out_addr));
}

/* ---- munmap ---------------------------------------------------------------- */

/*
 * do_vmi_munmap(): split the VMAs at @start and @end, then (vms_clear_ptes)
 * one MMU_NOTIFY_UNMAP pair over the detached VMAs with unmap_vmas() inside,
 * free_pgtables() between the neighbours, tlb_finish_mmu().
 * Context: mmap_write_lock held.
 * Return: 0, -EINVAL (HugeTLB range not huge-page aligned), -ENOMEM.
 */
static int do_munmap(struct m2d_mm *mm, uint64_t start, uint64_t end)
{
	struct m2d_mmu_notifier_range range = {
		.mm = mm, .event = M2D_MMU_NOTIFY_UNMAP, .may_block = true,
	};
	size_t first, last, i;
	struct m2d_vma *vma;
	uint64_t floor, ceiling;
	int ret;

	mmap_assert_write_locked(mm);
	first = mm_vma_index(mm, start);
	if (first == mm->nr_vmas || mm->vmas[first]->vm_start >= end)
		return 0;
	vma = mm->vmas[first];
	if (is_vm_hugetlb_page(vma) && start > vma->vm_start &&
	    (start & (m2d_vma_kernel_pagesize(vma) - 1)))
		return -EINVAL;
	last = mm_vma_index(mm, end - 1);
	if (last < mm->nr_vmas && mm->vmas[last]->vm_start < end) {
		struct m2d_vma *lv = mm->vmas[last];

		if (is_vm_hugetlb_page(lv) && end < lv->vm_end &&
		    (end & (m2d_vma_kernel_pagesize(lv) - 1)))
			return -EINVAL;
	}
	if (start > vma->vm_start) {
		ret = split_vma(mm, first, start);
		if (ret)
			return ret;
		first++;
	}
	last = mm_vma_index(mm, end - 1);
	if (last < mm->nr_vmas && mm->vmas[last]->vm_start < end && end < mm->vmas[last]->vm_end) {
		ret = split_vma(mm, last, end);
		if (ret)
			return ret;
	}
	/* detached VMAs: [first, last] */
	last = mm_vma_index(mm, end - 1);
	if (last == mm->nr_vmas || mm->vmas[last]->vm_start >= end)
		last--;

	range.start = mm->vmas[first]->vm_start;
	range.end = mm->vmas[last]->vm_end;
	m2d_mmu_notifier_invalidate_range_start(&range);
	for (i = first; i <= last; i++) {
		vma = mm->vmas[i];
		if (is_vm_hugetlb_page(vma))
			unmap_hugepage_range(mm, vma, vma->vm_start, vma->vm_end);
		else
			mm_unmap_page_range(mm, vma, vma->vm_start, vma->vm_end);
	}
	m2d_mmu_notifier_invalidate_range_end(&range);

	floor = first > 0 ? mm->vmas[first - 1]->vm_end : 0;
	ceiling = last + 1 < mm->nr_vmas ? mm->vmas[last + 1]->vm_start : TASK_SIZE;
	mm_free_pgtables(mm, range.start, range.end, floor, ceiling);
	mm_flush_tlb_range(mm, range.start, range.end);

	for (i = last + 1; i-- > first;) {
		vma = mm->vmas[i];
		vma_remove_at(mm, i);
		vma_free(vma);
	}
	return 0;
}

static int vm_munmap(struct m2d_mm *mm, uint64_t addr, uint64_t len)
{
	int ret;

	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	if ((addr & (M2D_PAGE_SIZE - 1)) || !len || len > TASK_SIZE || addr > TASK_SIZE - len)
		return -EINVAL;
	len = M2D_ALIGN_UP(len, M2D_PAGE_SIZE);
	m2d_delay(M2D_COST_MM_SYSCALL, 1);
	mm_note_cpu(mm);
	mmap_write_lock(mm);
	ret = do_munmap(mm, addr, addr + len);
	mmap_write_unlock(mm);
	return ret;
}

int m2d_mm_munmap(struct m2d_mm *mm, uint64_t addr, uint64_t len)
{
	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	return mm_call_entered(mm->host, vm_munmap(mm, addr, len));
}

/* ---- madvise --------------------------------------------------------------- */

/*
 * madvise_dontneed_single_vma() -> zap_page_range_single(): one
 * MMU_NOTIFY_CLEAR pair per VMA, zap, flush.  Tables stay.
 */
static int madvise_dontneed(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start,
			    uint64_t end)
{
	struct m2d_mmu_notifier_range range = {
		.mm = mm, .start = start, .end = end, .event = M2D_MMU_NOTIFY_CLEAR,
		.may_block = true,
	};

	mmap_assert_locked(mm);
	/* madvise_dontneed_free_valid_vma() */
	if (vma->vm_flags & VM_PFNMAP)
		return -EINVAL;
	if (is_vm_hugetlb_page(vma)) {
		uint64_t psize = m2d_vma_kernel_pagesize(vma);

		if (start & (psize - 1))
			return -EINVAL;
		end &= ~(psize - 1);
		if (start >= end)
			return 0;
		range.end = end;
	}
	m2d_mmu_notifier_invalidate_range_start(&range);
	if (is_vm_hugetlb_page(vma))
		unmap_hugepage_range(mm, vma, start, end);
	else
		mm_unmap_page_range(mm, vma, start, end);
	m2d_mmu_notifier_invalidate_range_end(&range);
	mm_flush_tlb_range(mm, start, end);
	return 0;
}

static bool madvise_need_mmap_write(int behavior)
{
	return behavior != M2D_MADV_DONTNEED;
}

static int do_madvise(struct m2d_mm *mm, uint64_t addr, uint64_t len, int advice)
{
	uint64_t start = addr, end;
	bool unmapped = false;
	int ret = 0;

	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	if (advice < 0 || advice >= M2D_MADV_NR)
		return -EINVAL;
	if ((addr & (M2D_PAGE_SIZE - 1)) || len > TASK_SIZE || addr > TASK_SIZE - len)
		return -EINVAL;
	len = M2D_ALIGN_UP(len, M2D_PAGE_SIZE);
	if (!len)
		return 0;
	end = addr + len;
	m2d_delay(M2D_COST_MM_SYSCALL, 1);
	mm_note_cpu(mm);
	if (madvise_need_mmap_write(advice))
		mmap_write_lock(mm);
	else
		mmap_read_lock(mm);

	/* madvise_walk_vmas() */
	while (start < end) {
		size_t idx = mm_vma_index(mm, start);
		struct m2d_vma *vma = idx < mm->nr_vmas ? mm->vmas[idx] : NULL;
		uint64_t s, e;

		if (!vma || vma->vm_start >= end) {
			unmapped = true;
			break;
		}
		if (vma->vm_start > start)
			unmapped = true;
		s = M2D_MAX(start, vma->vm_start);
		e = M2D_MIN(end, vma->vm_end);
		switch (advice) {
		case M2D_MADV_DONTNEED:
			ret = madvise_dontneed(mm, vma, s, e);
			break;
		case M2D_MADV_HUGEPAGE:
		case M2D_MADV_NOHUGEPAGE: {
			unsigned nf = vma->vm_flags;

			if (vma->vm_flags & (VM_PFNMAP | VM_HUGETLB))
				break; /* hugepage_madvise ignores special VMAs */
			if (advice == M2D_MADV_HUGEPAGE)
				nf = (nf & ~(unsigned)VM_NOHUGEPAGE) | VM_HUGEPAGE;
			else
				nf = (nf & ~(unsigned)VM_HUGEPAGE) | VM_NOHUGEPAGE;
			ret = mm_vma_modify_flags(mm, &idx, s, e, nf);
			break;
		}
		case M2D_MADV_SPLIT:
			/* HGM: MAP_SHARED HugeTLB only */
			if (!is_vm_hugetlb_page(vma) || !(vma->vm_flags & VM_SHARED)) {
				ret = -EINVAL;
				break;
			}
			ret = mm_vma_modify_flags(mm, &idx, s, e, vma->vm_flags | VM_HUGETLB_HGM);
			break;
		case M2D_MADV_COLLAPSE:
			if (is_vm_hugetlb_page(vma))
				ret = hugetlb_collapse(mm, vma, s, e);
			else if (vma_is_anonymous(vma))
				ret = madvise_collapse(mm, vma, s, e); /* may drop mmap_lock */
			else
				ret = -EINVAL; /* shmem/file THP collapse is not modelled */
			break;
		default:
			ret = -EINVAL;
		}
		if (ret)
			break;
		start = e;
	}

	if (madvise_need_mmap_write(advice))
		mmap_write_unlock(mm);
	else
		mmap_read_unlock(mm);
	if (!ret && unmapped)
		ret = -ENOMEM;
	return ret;
}

int m2d_mm_madvise(struct m2d_mm *mm, uint64_t addr, uint64_t len, int advice)
{
	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	return mm_call_entered(mm->host, do_madvise(mm, addr, len, advice));
}

/* ---- inspection ------------------------------------------------------------- */

void m2d_mm_xlate(struct m2d_mm *mm, uint64_t addr, struct m2d_mm_xlate *out)
{
	struct m2d_pt_walk w;

	memset(out, 0, sizeof(*out));
	if (!mm)
		return;
	m2d_pt_walk(mm->pgd, addr, &w);
	if (!w.present)
		return;
	out->present = true;
	out->level = w.level;
	out->pfn = m2d_pfn_from_u64(w.pfn);
	out->writable = (w.prot & M2D_PROT_W) && !(w.prot & PTE_PROTNONE);
}

void m2d_mm_stats_get(const struct m2d_mm *mm, struct m2d_mm_stats *out)
{
	struct m2d_pt_stats ps;

	memset(out, 0, sizeof(*out));
	if (!mm)
		return;
	*out = mm->stats;
	m2d_pt_stats_get(mm->pgd, &ps);
	out->pt_bytes = ps.table_bytes;
}
