#ifndef CPU_ROW_KERNELS_ROW_FOLD_H
#define CPU_ROW_KERNELS_ROW_FOLD_H

// Blocks of row statistics and their fold into losses, shared by every ISA build of the row kernels
// and by xent_fold_rows. Every helper is always inlined, so each build compiles them for its own
// instruction set.

#include "CPURowKernels.h"
#include "VectorTypes.h"

// Rows per block of statistics: 12 KiB, folded into the results while in L1.
#define XENT_FOLD_ROWS 256

/// A compensated (Neumaier) sum of row losses.
typedef struct {
    double sum, compensation;
} xent_fold;

XENT_INLINE void fold_add(xent_fold *fold, double value) {
    const double total = fold->sum + value;
    fold->compensation += fabs(fold->sum) >= fabs(value) ? (fold->sum - total) + value : (value - total) + fold->sum;
    fold->sum = total;
}

/// The sum, with its compensation unless it is not finite (inf - inf in the compensation would make
/// an infinite loss NaN).
XENT_INLINE double fold_total(xent_fold fold) { return isfinite(fold.sum) ? fold.sum + fold.compensation : fold.sum; }

/// The statistics of a block of up to XENT_FOLD_ROWS rows, one array per field of `xent_row_stat`: the
/// few-classes path stores them a vector at a time and the fold runs over them a vector at a time.
typedef struct {
    double lse[XENT_FOLD_ROWS];
    double max[XENT_FOLD_ROWS];
    double log_sum[XENT_FOLD_ROWS];
    double target_logit[XENT_FOLD_ROWS];
    double smooth[XENT_FOLD_ROWS];
    double mass[XENT_FOLD_ROWS];
} xent_stat_block;

XENT_INLINE void store_stat(xent_stat_block *block, int64_t i, xent_row_stat stat) {
    block->lse[i] = stat.lse;
    block->max[i] = stat.max;
    block->log_sum[i] = stat.log_sum;
    block->target_logit[i] = stat.target_logit;
    block->smooth[i] = stat.smooth;
    block->mass[i] = stat.mass;
}

/// The losses of class-index rows: `(1 - eps) w_y ((max - x_y) + log_sum) + (eps / C) smooth`, 0 for a
/// row whose target is `ignore_index`. `weight` is the rule's, passed apart so that without weights
/// the loop is compiled without their gather.
XENT_INLINE void class_index_losses(const xent_loss_rule *rule, const double *weight, int64_t first,
                                    const xent_stat_block *block, int64_t count, double *losses) {
    const int64_t *targets = rule->targets + first;
    const double eps = rule->label_smoothing, smoothing = eps / (double)rule->classes;
    for (int64_t i = 0; i < count; i++) {
        const int ignored = targets[i] == rule->ignore_index;
        const double wy = weight && !ignored ? weight[targets[i]] : 1;
        // (max - x_y) + log_sum, never lse - x_y: lse rounds log_sum away next to a large max.
        double loss = (1 - eps) * wy * ((block->max[i] - block->target_logit[i]) + block->log_sum[i]);
        if (eps > 0) {
            loss += smoothing * block->smooth[i];
        }
        losses[i] = ignored ? 0 : loss;
    }
}

/// Counts the targets of `targets[0..<count]` that are not `ignore_index` into `*kept`, adds their
/// weights to `*total` when `weight` is given (the targets must then be valid), and returns the
/// position of the first one outside [0, classes), or -1. The count and the test run without a branch
/// per target, so that the loop runs a vector at a time.
XENT_INLINE int64_t check_target_block(const int64_t *targets, int64_t count, int64_t classes, int64_t ignore_index,
                                       const double *weight, int64_t *kept, double *total) {
    int64_t bad = 0, counted = 0;
    for (int64_t i = 0; i < count; i++) {
        const int64_t y = targets[i];
        counted += y != ignore_index;
        bad |= y != ignore_index && (uint64_t)y >= (uint64_t)classes;
    }
    *kept += counted;
    if (bad) {
        for (int64_t i = 0;; i++) {
            if (targets[i] != ignore_index && (uint64_t)targets[i] >= (uint64_t)classes) {
                return i;
            }
        }
    }
    for (int64_t i = 0; weight && i < count; i++) {
        *total += targets[i] != ignore_index ? weight[targets[i]] : 0;
    }
    return -1;
}

/// Folds the block of rows [first, first + count) into `results` and `fold`: each row's loss as
/// `xent_loss_rule` states it.
XENT_INLINE void fold_block(xent_fold *fold, const xent_row_results *results, int64_t first,
                            const xent_stat_block *block, int64_t count) {
    if (results->lse) {
        memcpy(results->lse + first, block->lse, (size_t)count * sizeof(double));
    }
    if (results->statistics) {
        for (int64_t i = 0; i < count; i++) {
            const xent_row_stat stat = {block->lse[i],          block->max[i],    block->log_sum[i],
                                        block->target_logit[i], block->smooth[i], block->mass[i]};
            results->statistics[first + i] = stat;
        }
    }
    const xent_loss_rule *rule = results->rule;
    if (!rule) {
        return;
    }
    xent_target_check *check = results->check;
    if (check && rule->targets) {
        const int64_t bad = check_target_block(rule->targets + first, count, rule->classes, rule->ignore_index, NULL,
                                               &check->kept, NULL);
        if (check->first_bad < 0 && bad >= 0) {
            check->first_bad = first + bad;
        }
    }
    double losses[XENT_FOLD_ROWS];
    if (!rule->targets) {
        memcpy(losses, block->smooth, (size_t)count * sizeof(double));
    } else if (rule->weight) {
        class_index_losses(rule, rule->weight, first, block, count, losses);
    } else {
        class_index_losses(rule, NULL, first, block, count, losses);
    }
    if (results->row_losses) {
        memcpy(results->row_losses + first, losses, (size_t)count * sizeof(double));
    }
    // The losses are added a vector at a time, in eight sums that do not wait on each other, and only
    // their total is added to the compensated sum.
    xent_vd sums = 0;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        sums += xent_load_f64(losses + i);
    }
    double total = xent_sum_vd(sums);
    for (; i < count; i++) {
        total += losses[i];
    }
    fold_add(fold, total);
}

#endif
