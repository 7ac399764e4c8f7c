#ifndef CPU_ROW_KERNELS_H
#define CPU_ROW_KERNELS_H

// The CPU fallback's row loops and the loss formula both backends fold their statistics with. Threading,
// option checks and the API are Swift.
//
// Logits are laid out as PyTorch's (outer, classes, inner): row r = (n, k) with n = r / inner and
// k = r % inner starts at n * classes * inner + k, and its classes lie `inner` elements apart.
// Each entry point is compiled for AVX-512, AVX2 and baseline x86-64 and picks one at load time.

#include <stdint.h>

#include "xent_contract.h"

/// The storage type of logits, probabilities and outputs: XENT_F16, XENT_BF16, XENT_F32 or XENT_F64 (see
/// xent_contract.h). `weight` holds the accumulation type.
typedef int32_t xent_dtype;

/// The gradient of rows whose exps an earlier statistics run kept (see xent_rows.kept), to be written by
/// a later statistics run that keeps exps of as many classes a row, beside its own rows: row i of these
/// beside row i of the run (for rows the run has).
typedef struct xent_pending_gradient {
    /// The rows' kept exps, `classes` values of the accumulation type per row.
    const void *kept;
    /// XENT_GIVEN_COUNT values per row, XENT_GIVEN_MAX being the maximum its exps are relative to.
    const double *given;
    /// One class index per row (any value outside [0, classes) for none in these classes).
    const int64_t *targets;
    /// The rows' gradient, of the run's logits' type.
    void *destination;
    int64_t rows;
} xent_pending_gradient;

/// One batch of rows: where its inputs are, and its options (see xent_contract.h).
typedef struct xent_rows {
    const void *logits;
    /// Class probabilities in the logits' dtype and layout (XENT_HAS_PROBABILITIES), or NULL.
    const void *probabilities;
    /// One class index per row (XENT_HAS_TARGETS), or NULL (plain logsumexp, softmax).
    const int64_t *targets;
    /// `classes` per-class weights in the accumulation type (XENT_HAS_WEIGHT), or NULL for all ones.
    const void *weight;
    /// With XENT_GIVEN_GRADIENT, XENT_GIVEN_COUNT values per row (see XENT_GIVEN_MAX); else NULL.
    const double *given;
    /// Each row's exps exp(x_c - max) relative to its own maximum, `classes` values of the accumulation
    /// type per row from the batch's first row, or NULL (contiguous rows, not soft-capped): a statistics
    /// run writes them as it sums them, and a given-gradient run reads them instead of taking the exps
    /// of the logits again (each row's XENT_GIVEN_MAX then being the maximum they are relative to).
    void *kept;
    /// With `kept`, class-index targets, no probabilities and fewer than 2^24 classes: a gradient to write
    /// beside the rows, or NULL.
    const xent_pending_gradient *pending;
    /// The options of the rows and of their outputs.
    xent_row_options_f64 options;
} xent_rows;

/// Where the second pass writes (what it writes, and how a gradient is scaled, are in the rows' options).
typedef struct xent_outputs {
    /// The logits' layout, of type `dtype`; may be the logits themselves (in place).
    void *destination;
    /// The logits' dtype, or XENT_F32 for XENT_F16 and XENT_BF16 logits.
    xent_dtype dtype;
    /// One upstream value per row (XENT_HAS_UPSTREAM), or NULL.
    const double *row_upstream;
    /// Nonzero when `destination` is a small buffer read again at once (the soft-capped rows' block):
    /// the fused gradient then stores into it plainly instead of streaming past the cache.
    int32_t cached;
} xent_outputs;

/// How a row's loss follows from its statistics, as PyTorch's cross_entropy: for class indices
/// `(1 - eps) w_y ((max - x_y) + log_sum) + (eps / C) smooth`, and 0 for a row whose target is
/// `ignore_index`; for probability targets (`targets` NULL) `smooth`.
typedef struct xent_loss_rule {
    const int64_t *targets;
    /// `classes` per-class weights, or NULL for all ones.
    const double *weight;
    int64_t ignore_index;
    double label_smoothing;
    int64_t classes;
} xent_loss_rule;

/// The check of class-index targets made while their rows are folded, for losses whose targets were
/// not checked beforehand (forward losses without weights: their targets are then read once, from
/// cache, rather than in a pass of their own). Folds in row order add to it.
typedef struct xent_target_check {
    /// The first row whose target is outside [0, classes) and not `ignore_index`, or -1.
    int64_t first_bad;
    /// The number of rows whose target is not `ignore_index`: what `mean` divides by.
    int64_t kept;
} xent_target_check;

/// Where the per-row results of a run go, each indexed by row; any pointer may be NULL.
typedef struct xent_row_results {
    /// The loss formula, or NULL when no loss is wanted (logsumexp, softmax).
    const xent_loss_rule *rule;
    double *row_losses;
    double *lse;
    /// Where the rule's targets are checked as they are folded (only without weights, whose gather
    /// needs checked targets), or NULL.
    xent_target_check *check;
    /// Each row's predicted class: the first index of its maximum, or of its first NaN (as torch.argmax);
    /// -1 for a row of no classes. Computed only by runs without outputs, and only when not NULL.
    int64_t *predicted;
    /// Each row's entropy -sum_c p_c log p_c of p = softmax(x) (a zero p_c adds nothing). Computed only by
    /// runs without outputs, and only when not NULL.
    double *entropy;
    /// Each row's statistics as computed (for rows holding a slice of the classes, whose statistics are
    /// merged with the other slices'), where not NULL.
    xent_row_stat *statistics;
} xent_row_results;

/// Computes the statistics of rows [begin, end) in one read of each row, and with `outputs` (may be
/// NULL) writes their outputs in the same launch (the row read twice, the second time from cache, and
/// written once). Folds the statistics into `results` and returns the sum of the rows' losses. With
/// XENT_GIVEN_GRADIENT it only writes the gradients from the given values, and returns 0.
double xent_run_rows(xent_dtype dtype, const xent_rows *rows, const xent_outputs *outputs,
                     const xent_row_results *results, int64_t begin, int64_t end);

/// Folds the statistics of rows [first, first + count) into `results` and returns the sum of their
/// losses (compensated, so that the order of rows barely matters).
double xent_fold_rows(const xent_row_results *results, int64_t first, const xent_row_stat *stats,
                      int64_t count);

/// Checks class-index targets: returns the position of the first one outside [0, classes) that is not
/// `ignore_index`, or -1 with `*kept` set to the number of targets not ignored and `*kept_weight` to
/// their total weight (`*kept` without `weight`).
int64_t xent_check_targets(const int64_t *targets, int64_t count, int64_t classes, int64_t ignore_index,
                           const double *weight, int64_t *kept, double *kept_weight);

/// Sums `count` floats: a read-only pass over memory, the yardstick for the kernels' bandwidth.
float xent_read_sum(const float *values, int64_t count);

/// Copies `count` floats with stores that bypass the cache (streamed, as the fused gradient writes): one
/// read and one write of memory, the yardstick for a loss and its gradient.
void xent_copy_stream(const float *from, float *to, int64_t count);

/// The vector functions of the row kernels, for `xent_vector_math_probe`: exp for outputs (`xent_exp_vf`), exp for
/// terms summed into a total of at least 1 (`xent_exp_sum_vf`), log (`xent_log_vf`), tanh for soft-capping
/// (`xent_tanh_vf`).
typedef enum xent_vector_function {
    XENT_VECTOR_EXP = 0,
    XENT_VECTOR_EXP_SUM = 1,
    XENT_VECTOR_LOG = 2,
    XENT_VECTOR_TANH = 3
} xent_vector_function;

/// Applies vector `function` of the build the kernels use (see XENT_CPU_ISA) to `count` floats, 16 lanes at a
/// time: for the accuracy tests. `xent_vector_math_probe_f64` applies the double exp, 8 lanes at a time.
void xent_vector_math_probe(xent_vector_function function, const float *x, float *y, int64_t count);
void xent_vector_math_probe_f64(const double *x, double *y, int64_t count);

#endif
