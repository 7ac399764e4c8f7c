#include "CPURowKernels.h"

#include "VectorMath.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
// ThreadSanitizer instruments the clones' ifunc resolver, which runs before its runtime is set up.
#define XENT_NO_DISPATCH 1
#endif
#endif

#if defined(__x86_64__) && !defined(XENT_NO_DISPATCH)
// One build per ISA, chosen by the CPU's features when the library loads (no build flags needed).
#define XENT_DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define XENT_DISPATCH
#endif

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

/// Folds the block of rows [first, first + count) into `results` and `fold`: each row's loss as
/// `xent_loss_rule` states it.
XENT_INLINE void fold_block(xent_fold *fold, const xent_row_results *results, int64_t first,
                            const xent_stat_block *block, int64_t count) {
    if (results->lse) {
        memcpy(results->lse + first, block->lse, (size_t)count * sizeof(double));
    }
    const xent_loss_rule *rule = results->rule;
    if (!rule) {
        return;
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

double xent_fold_rows(const xent_row_results *results, int64_t first, const xent_row_stat *stats, int64_t count) {
    xent_fold fold = {0, 0};
    xent_stat_block block;
    for (int64_t done = 0; done < count; done += XENT_FOLD_ROWS) {
        const int64_t size = count - done < XENT_FOLD_ROWS ? count - done : XENT_FOLD_ROWS;
        for (int64_t i = 0; i < size; i++) {
            store_stat(&block, i, stats[done + i]);
        }
        fold_block(&fold, results, first + done, &block, size);
    }
    return fold_total(fold);
}

XENT_DISPATCH
int64_t xent_check_targets(const int64_t *targets, int64_t count, int64_t classes, int64_t ignore_index,
                           const double *weight, double *divisor) {
    int64_t kept = 0;
    double total = 0;
    // Blocks of targets are checked without a branch per target, so that the loop runs a vector at a
    // time; a block holding a bad target is looked through again for its position.
    for (int64_t start = 0; start < count; start += 4096) {
        const int64_t end = count - start < 4096 ? count : start + 4096;
        int64_t bad = 0;
        for (int64_t i = start; i < end; i++) {
            const int64_t y = targets[i];
            kept += y != ignore_index;
            bad |= y != ignore_index && (uint64_t)y >= (uint64_t)classes;
        }
        if (bad) {
            for (int64_t i = start;; i++) {
                if (targets[i] != ignore_index && (uint64_t)targets[i] >= (uint64_t)classes) {
                    return i;
                }
            }
        }
        for (int64_t i = start; weight && i < end; i++) {
            total += targets[i] != ignore_index ? weight[targets[i]] : 0;
        }
    }
    *divisor = weight ? total : (double)kept;
    return -1;
}

#define SUFFIX f16
#define STORAGE _Float16
#define ACC float
#define VEC xent_vf
#define LANES 16
#define LOAD xent_load_f16
#define STORE xent_store_f16
#define VEXP xent_exp_vf
#define VEXP_SUM xent_exp_sum_vf
#define TRANSPOSE XENT_TRANSPOSE16
#define VLOG xent_log_vf
#define VMAX xent_max_vf
#define SEXP expf
#define SLOG logf
#define LOWEST (-FLT_MAX)
#define HSUM xent_sum_vf
#define HMAX xent_hmax_vf
#define IOTA ((xent_vf){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
#define VECD xent_vd16
#define VEC_MASK xent_vi
#include "RowKernel.inc.h"
#undef SUFFIX
#undef STORAGE
#undef LOAD
#undef STORE

#define SUFFIX f32
#define STORAGE float
#define LOAD xent_load_f32
#define STORE xent_store_f32
#include "RowKernel.inc.h"
#undef SUFFIX
#undef STORAGE
#undef ACC
#undef VEC
#undef LANES
#undef LOAD
#undef STORE
#undef VEXP
#undef VEXP_SUM
#undef TRANSPOSE
#undef VLOG
#undef VMAX
#undef SEXP
#undef SLOG
#undef LOWEST
#undef HSUM
#undef HMAX
#undef IOTA
#undef VECD
#undef VEC_MASK

#define SUFFIX f64
#define STORAGE double
#define ACC double
#define VEC xent_vd
#define LANES 8
#define LOAD xent_load_f64
#define STORE xent_store_f64
#define VEXP xent_exp_vd
#define VEXP_SUM xent_exp_vd
#define TRANSPOSE XENT_TRANSPOSE8
#define VLOG xent_log_vd
#define VMAX xent_max_vd
#define SEXP exp
#define SLOG log
#define LOWEST (-DBL_MAX)
#define HSUM xent_sum_vd
#define HMAX xent_hmax_vd
#define IOTA ((xent_vd){0, 1, 2, 3, 4, 5, 6, 7})
#define VECD xent_vd
#define VEC_MASK xent_vl
#include "RowKernel.inc.h"

XENT_DISPATCH
double xent_run_rows(xent_dtype dtype, const xent_rows *rows, const xent_outputs *outputs,
                     const xent_row_results *results, int64_t begin, int64_t end) {
    switch (dtype) {
    case XENT_F16:
        return run_f16(rows, outputs, results, begin, end);
    case XENT_F32:
        return run_f32(rows, outputs, results, begin, end);
    case XENT_F64:
        return run_f64(rows, outputs, results, begin, end);
    }
    return 0;
}

// The clones call only always-inlined helpers: a 64-byte vector never crosses a call in an AVX2 clone.
XENT_INLINE float read_sum(const float *values, int64_t count) {
    xent_vf a = 0, b = 0, c = 0, d = 0;
    int64_t i = 0;
    for (; i + 64 <= count; i += 64) {
        a += xent_load_f32(values + i);
        b += xent_load_f32(values + i + 16);
        c += xent_load_f32(values + i + 32);
        d += xent_load_f32(values + i + 48);
    }
    xent_vf sum = (a + b) + (c + d);
    float total = 0;
    for (int lane = 0; lane < 16; lane++) {
        total += sum[lane];
    }
    for (; i < count; i++) {
        total += values[i];
    }
    return total;
}

XENT_DISPATCH
float xent_read_sum(const float *values, int64_t count) { return read_sum(values, count); }
