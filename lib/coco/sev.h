/* SPDX-License-Identifier: MIT */
/*
 * lib/coco/sev.h - KVM's SEV-SNP private-memory hooks
 * (arch/x86/kvm/svm/sev.c): sev_gmem_prepare, sev_gmem_invalidate,
 * sev_gmem_max_mapping_level and sev_handle_rmp_fault.
 *
 * They live in lib/coco because they only touch the RMP; lib/kvm calls
 * them (kvm_x86_ops.gmem_prepare etc.) and performs the zap that
 * sev_handle_rmp_fault asks for, since coco may not call into kvm.
 */
#ifndef M2D_LIB_COCO_SEV_H
#define M2D_LIB_COCO_SEV_H

#include "coco/rmp.h"

#endif /* M2D_LIB_COCO_SEV_H */
