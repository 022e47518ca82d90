// SPDX-License-Identifier: MIT
/*
 * lib/mm/mm_public.c - mmu_notifier subscriptions with plain callbacks, for
 * code outside lib/ (research code observing invalidations, replayers).
 * KVM subscribes itself (lib/kvm/host_mm.c: m2d_vm_mmu_notifier_register),
 * and backs memslots with an mm through m2d_kvm_host_ops_set_mm().
 */
#include "mm/mm_types.h"

#include <errno.h>

/* ---- plain-callback subscriptions ----------------------------------------- */

struct m2d_mm_subscription {
	struct m2d_mmu_notifier mn;
	struct m2d_mm_notifier_cb cb;
	void *priv;
};

static int sub_start(struct m2d_mmu_notifier *mn, const struct m2d_mmu_notifier_range *r)
{
	struct m2d_mm_subscription *s = container_of(mn, struct m2d_mm_subscription, mn);

	if (s->cb.invalidate_range_start)
		s->cb.invalidate_range_start(s->priv, r->start, r->end, r->event, r->may_block);
	return 0;
}

static void sub_end(struct m2d_mmu_notifier *mn, const struct m2d_mmu_notifier_range *r)
{
	struct m2d_mm_subscription *s = container_of(mn, struct m2d_mm_subscription, mn);

	if (s->cb.invalidate_range_end)
		s->cb.invalidate_range_end(s->priv, r->start, r->end, r->event);
}

static void sub_release(struct m2d_mmu_notifier *mn, struct m2d_mm *mm)
{
	struct m2d_mm_subscription *s = container_of(mn, struct m2d_mm_subscription, mn);

	if (s->cb.release)
		s->cb.release(s->priv);
}

static const struct m2d_mmu_notifier_ops sub_ops = {
	.invalidate_range_start = sub_start,
	.invalidate_range_end = sub_end,
	.release = sub_release,
};

static int subscribe(struct m2d_mm *mm, const struct m2d_mm_notifier_cb *cb, void *priv,
		     struct m2d_mm_subscription **out)
{
	struct m2d_mm_subscription *s;
	int ret;

	M2D_VALIDATE_OR_RET(mm && cb && out, -EINVAL);
	s = m2d_zalloc(M2D_ALLOC_MM, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cb = *cb;
	s->priv = priv;
	s->mn.ops = &sub_ops;
	ret = m2d_mmu_notifier_register(&s->mn, mm);
	if (ret) {
		m2d_free(M2D_ALLOC_MM, s, sizeof(*s));
		return ret;
	}
	*out = s;
	return 0;
}

int m2d_mm_subscribe(struct m2d_mm *mm, const struct m2d_mm_notifier_cb *cb, void *priv,
		     struct m2d_mm_subscription **out)
{
	M2D_VALIDATE_OR_RET(mm && cb && out, -EINVAL);
	return mm_call_entered(mm->host, subscribe(mm, cb, priv, out));
}

void m2d_mm_unsubscribe(struct m2d_mm *mm, struct m2d_mm_subscription **ps)
{
	struct m2d_mm_subscription *s = ps ? *ps : NULL;

	if (!s)
		return;
	/* after exit_mmap the subscription is already unhooked (s->mn.mm == NULL) */
	if (mm && s->mn.mm == mm)
		m2d_mmu_notifier_unregister(&s->mn, mm);
	m2d_free(M2D_ALLOC_MM, s, sizeof(*s));
	*ps = NULL;
}
