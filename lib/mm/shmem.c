// SPDX-License-Identifier: MIT
/*
 * lib/mm/shmem.c - files with a page cache: memfd/tmpfs (mm/shmem.c) and
 * hugetlbfs (fs/hugetlbfs/inode.c, mm/hugetlb.c alloc_hugetlb_folio).
 *
 * The page cache is an array of folio pointers indexed by page-cache index
 * (4K pages for shmem; one 2M or 1G folio per index for hugetlbfs), in
 * 512-entry chunks allocated when first used: a 2 GiB memfd faulted at 4K
 * costs 4 MiB of pointers, a 1 TiB hugetlbfs file 8 KiB.
 *
 * Folios come from physmem's buddy allocator when first needed and are
 * zeroed then (shmem_get_folio / hugetlb_no_page -> clear_huge_page).  The
 * HugeTLB pool (nr_hugepages, reservations) is not modelled: a hugetlbfs
 * page is taken from the buddy allocator at first fault, which costs a
 * BUDDY_ALLOC instead of a pool dequeue.  shmem THP is not modelled.
 */
#include "mm/mm_types.h"

#include <errno.h>

static int memfd_create_file(struct m2d_host *host, uint64_t size, enum m2d_file_kind kind,
		     struct m2d_file **out)
{
	static const unsigned orders[M2D_FILE_KIND_NR] = { 0, M2D_PMD_ORDER, M2D_PUD_ORDER };
	struct m2d_file *f;

	M2D_VALIDATE_OR_RET(host && out, -EINVAL);
	if ((unsigned)kind >= M2D_FILE_KIND_NR || !size ||
	    (size & ((M2D_PAGE_SIZE << orders[kind]) - 1)) || size > TASK_SIZE)
		return -EINVAL;
	f = m2d_zalloc(M2D_ALLOC_MM, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->kind = kind;
	f->host = host;
	f->size = size;
	f->order = orders[kind];
	f->nr_pages = size >> (M2D_PAGE_SHIFT + f->order);
	f->nr_chunks = M2D_DIV_ROUND_UP(f->nr_pages, PCACHE_CHUNK);
	f->chunks = m2d_calloc(M2D_ALLOC_MM, f->nr_chunks, sizeof(*f->chunks));
	if (!f->chunks) {
		m2d_free(M2D_ALLOC_MM, f, sizeof(*f));
		return -ENOMEM;
	}
	f->refcount = 1;
	spin_lock_init(&f->i_pages, "i_pages", M2D_RANK_LEAF);
	init_rwsem(&f->i_mmap_rwsem, "i_mmap_rwsem", M2D_RANK_I_MMAP);
	/* hugetlb_fault_mutex_hash() key: stable, unlike the address_space pointer */
	f->id = host->next_file_id++;
	*out = f;
	return 0;
}

int m2d_memfd_create(struct m2d_host *host, uint64_t size, enum m2d_file_kind kind,
		     struct m2d_file **out)
{
	M2D_VALIDATE_OR_RET(host && out, -EINVAL);
	return mm_call_entered(host, memfd_create_file(host, size, kind, out));
}

void m2d_file_get(struct m2d_file *f)
{
	f->refcount++;
}

/* iput() of the last reference: truncate_inode_pages + free. */
void m2d_file_put(struct m2d_file **pf)
{
	struct m2d_file *f = pf ? *pf : NULL;
	bool entered;

	if (!f)
		return;
	*pf = NULL;
	if (--f->refcount > 0)
		return;
	entered = mm_engine_enter(f->host);
	for (uint64_t c = 0; c < f->nr_chunks; c++) {
		struct m2d_folio **chunk = f->chunks[c];

		if (!chunk)
			continue;
		for (unsigned i = 0; i < PCACHE_CHUNK; i++)
			if (chunk[i])
				m2d_folio_put(f->host, chunk[i]);
		m2d_free(M2D_ALLOC_MM, chunk, PCACHE_CHUNK * sizeof(*chunk));
	}
	m2d_free(M2D_ALLOC_MM, f->chunks, f->nr_chunks * sizeof(*f->chunks));
	m2d_lock_fini(&f->i_pages.c);
	m2d_lock_fini(&f->i_mmap_rwsem.c);
	mm_engine_leave(f->host, entered);
	m2d_free(M2D_ALLOC_MM, f, sizeof(*f));
}

uint64_t m2d_file_cached_bytes(const struct m2d_file *f)
{
	return f ? f->cached * file_page_size(f) : 0;
}

/* filemap_get_entry(): lockless (RCU) lookup. */
struct m2d_folio *file_lookup(struct m2d_file *f, uint64_t index)
{
	struct m2d_folio **chunk;

	m2d_delay(M2D_COST_MM_PAGECACHE_LOOKUP, 1);
	if (index >= f->nr_pages)
		return NULL;
	chunk = READ_ONCE(f->chunks[index / PCACHE_CHUNK]);
	return chunk ? READ_ONCE(chunk[index % PCACHE_CHUNK]) : NULL;
}

int file_get_folio(struct m2d_file *f, uint64_t index, int nid, struct m2d_folio **out)
{
	struct m2d_folio **chunk, *folio;
	int ret;

	if (index >= f->nr_pages)
		return -EINVAL;
	folio = file_lookup(f, index);
	if (folio) {
		*out = folio;
		return 0;
	}
	ret = m2d_folio_alloc(f->host, f->order, nid, 0, &folio);
	if (ret)
		return ret;
	mm_clear_pages(file_page_size(f)); /* clear_highpage / clear_huge_page */
	chunk = f->chunks[index / PCACHE_CHUNK];
	if (!chunk) {
		chunk = m2d_calloc(M2D_ALLOC_MM, PCACHE_CHUNK, sizeof(*chunk));
		if (!chunk) {
			m2d_folio_put(f->host, folio);
			return -ENOMEM;
		}
	}
	/* filemap_add_folio(): insert under xa_lock; a racing insert wins */
	spin_lock(&f->i_pages);
	if (!f->chunks[index / PCACHE_CHUNK])
		f->chunks[index / PCACHE_CHUNK] = chunk;
	else if (chunk != f->chunks[index / PCACHE_CHUNK])
		m2d_free(M2D_ALLOC_MM, chunk, PCACHE_CHUNK * sizeof(*chunk));
	chunk = f->chunks[index / PCACHE_CHUNK];
	if (chunk[index % PCACHE_CHUNK]) {
		spin_unlock(&f->i_pages);
		m2d_folio_put(f->host, folio);
		*out = chunk[index % PCACHE_CHUNK];
		return 0;
	}
	folio->private = f;
	chunk[index % PCACHE_CHUNK] = folio;
	f->cached++;
	spin_unlock(&f->i_pages);
	*out = folio;
	return 1;
}

static int vfs_fallocate(struct m2d_file *f, uint64_t off, uint64_t len, int nid)
{
	uint64_t psize, first, last;

	M2D_VALIDATE_OR_RET(f, -EINVAL);
	psize = file_page_size(f);
	if (!len || off >= f->size || len > f->size - off)
		return -EINVAL;
	first = off / psize;
	last = (off + len - 1) / psize;
	for (uint64_t i = first; i <= last; i++) {
		struct m2d_folio *folio;
		int ret = file_get_folio(f, i, nid, &folio);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int m2d_file_fallocate(struct m2d_file *f, uint64_t off, uint64_t len, int nid)
{
	M2D_VALIDATE_OR_RET(f, -EINVAL);
	return mm_call_entered(f->host, vfs_fallocate(f, off, len, nid));
}
