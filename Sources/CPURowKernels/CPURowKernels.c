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

static void fold_add(xent_fold *fold, double value) {
    const double total = fold->sum + value;
    fold->compensation += fabs(fold->sum) >= fabs(value) ? (fold->sum - total) + value : (value - total) + fold->sum;
    fold->sum = total;
}

/// The sum, with its compensation unless it is not finite (inf - inf in the compensation would make
/// an infinite loss NaN).
static double fold_total(xent_fold fold) { return isfinite(fold.sum) ? fold.sum + fold.compensation : fold.sum; }

static double row_loss(const xent_loss_rule *rule, int64_t row, const xent_row_stat *stat) {
    if (!rule->targets) {
        return stat->smooth;
    }
    const int64_t y = rule->targets[row];
    if (y == rule->ignore_index) {
        return 0;
    }
    const double eps = rule->label_smoothing;
    const double wy = rule->weight ? rule->weight[y] : 1;
    // (max - x_y) + log_sum, never lse - x_y: lse rounds log_sum away next to a large max.
    double loss = (1 - eps) * wy * ((stat->max - stat->target_logit) + stat->log_sum);
    if (eps > 0) {
        loss += eps / (double)rule->classes * stat->smooth;
    }
    return loss;
}

static void fold_rows(xent_fold *fold, const xent_row_results *results, int64_t first, const xent_row_stat *stats,
                      int64_t count) {
    if (results->lse) {
        for (int64_t i = 0; i < count; i++) {
            results->lse[first + i] = stats[i].lse;
        }
    }
    if (!results->rule) {
        return;
    }
    // The losses of up to XENT_FOLD_ROWS rows are added in four plain sums, which do not wait on each
    // other, and only their total is added to the compensated sum.
    double sums[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < count; i++) {
        const double loss = row_loss(results->rule, first + i, &stats[i]);
        if (results->row_losses) {
            results->row_losses[first + i] = loss;
        }
        sums[i & 3] += loss;
    }
    fold_add(fold, (sums[0] + sums[1]) + (sums[2] + sums[3]));
}

double xent_fold_rows(const xent_row_results *results, int64_t first, const xent_row_stat *stats, int64_t count) {
    xent_fold fold = {0, 0};
    for (int64_t done = 0; done < count; done += XENT_FOLD_ROWS) {
        const int64_t block = count - done < XENT_FOLD_ROWS ? count - done : XENT_FOLD_ROWS;
        fold_rows(&fold, results, first + done, stats + done, block);
    }
    return fold_total(fold);
}

int64_t xent_check_targets(const int64_t *targets, int64_t count, int64_t classes, int64_t ignore_index,
                           const double *weight, double *divisor) {
    int64_t kept = 0;
    double total = 0;
    for (int64_t i = 0; i < count; i++) {
        const int64_t y = targets[i];
        if (y == ignore_index) {
            continue;
        }
        if (y < 0 || y >= classes) {
            return i;
        }
        kept++;
        if (weight) {
            total += weight[y];
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
