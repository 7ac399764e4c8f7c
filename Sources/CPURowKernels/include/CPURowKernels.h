#ifndef CPU_ROW_KERNELS_H
#define CPU_ROW_KERNELS_H

// The CPU fallback's innermost row loops. Everything else (validation, threading, reductions) is Swift.
//
// Logits are laid out as PyTorch's (outer, classes, inner): row r = (n, k) with n = r / inner and
// k = r % inner starts at n * classes * inner + k, and its classes lie `inner` elements apart.
// Each entry point is compiled for AVX-512, AVX2 and baseline x86-64 and picks one at load time.

#include <stdint.h>

/// The storage type of logits, probabilities and outputs. Accumulation is in float for f16 and f32,
/// in double for f64; `weight` holds the accumulation type.
typedef enum xent_dtype { XENT_F16 = 0, XENT_F32 = 1, XENT_F64 = 2 } xent_dtype;

/// One batch of rows and the options that shape their statistics.
typedef struct xent_rows {
    const void *logits;
    /// Class probabilities in the logits' dtype and layout, or NULL for class-index targets.
    const void *probabilities;
    /// One class index per row, or NULL when there are no targets (plain logsumexp, softmax).
    const int64_t *targets;
    /// `classes` per-class weights in the accumulation type, or NULL for all ones.
    const void *weight;
    int64_t classes;
    int64_t inner;
    int64_t ignore_index;
    double label_smoothing;
    /// Sum of the weights over all classes (`classes` without weights).
    double weight_total;
    /// Non-zero: accumulate `smooth` (needed for label smoothing and probability targets).
    int32_t accumulate_smooth;
} xent_rows;

/// What one row yields. Its logsumexp is `max + log_sum`, kept in two parts so that a loss
/// `(max - x_y) + log_sum` stays exact for logits of large magnitude; `lse` is that sum as
/// torch.logsumexp gives it (+inf for a row holding +inf and no NaN). With v_c = w_c for class indices
/// and v_c = w_c * ((1 - eps) q_c + eps / C) for probabilities: `smooth` = sum_c v_c (lse - x_c) and
/// `mass` = sum_c v_c.
typedef struct xent_row_stat {
    double lse;
    double max;
    double log_sum;
    double target_logit;
    double smooth;
    double mass;
} xent_row_stat;

/// What the second pass over a row writes.
typedef enum xent_output_kind {
    XENT_OUTPUT_LOG_SOFTMAX = 0,
    XENT_OUTPUT_SOFTMAX = 1,
    XENT_OUTPUT_GRADIENT = 2
} xent_output_kind;

/// Where and what the second pass writes. The gradient of row r is scaled by
/// `gradient_scale * (row_upstream ? row_upstream[r] : 1)`.
typedef struct xent_outputs {
    /// The logits' dtype and layout; may be the logits themselves (in place).
    void *destination;
    xent_output_kind kind;
    double gradient_scale;
    const double *row_upstream;
} xent_outputs;

/// Fills `stats[r - begin]` for the rows [begin, end) in one read of each row.
void xent_row_statistics(xent_dtype dtype, const xent_rows *rows, int64_t begin, int64_t end,
                         xent_row_stat *stats);

/// Computes each row's statistics, then writes its outputs: one launch, the row read twice
/// (the second time from cache) and written once.
void xent_row_outputs(xent_dtype dtype, const xent_rows *rows, const xent_outputs *outputs,
                      int64_t begin, int64_t end, xent_row_stat *stats);

/// Sums `count` floats: a read-only pass over memory, the yardstick for the kernels' bandwidth.
float xent_read_sum(const float *values, int64_t count);

#endif
