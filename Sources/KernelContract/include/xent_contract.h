#ifndef XENT_CONTRACT_H
#define XENT_CONTRACT_H

// What the host (Swift), the C row kernels and the OpenCL kernels must agree on, each fact in this one
// place: the storage type codes, the slots of a row's statistics, the flags of optional inputs, the
// output kinds, the tunables that decide a row's path and the rule that decides it. The C row kernels
// include this header, Swift reads it through the C module KernelContract, and the OpenCL host layer
// puts its text before the kernel sources (`xent_contract_source`), so it is written in the common
// subset of C99 and OpenCL C 1.2: macros where the preprocessor needs a value, enums elsewhere.

#ifdef __OPENCL_C_VERSION__
typedef long xent_index;
#define XENT_CONTRACT_FUNCTION inline
#else
#include <stdint.h>
typedef int64_t xent_index;
#define XENT_CONTRACT_FUNCTION static inline
#endif

// ---- Storage types

// The storage type of logits, probabilities and outputs: the C row kernels' `dtype` argument and the
// OpenCL programs' XENT_DTYPE and XENT_OUT_DTYPE defines. Accumulation is in float for half, bfloat16
// and float, in double for double. Outputs are of the logits' type, or float for half and bfloat16.
#define XENT_F16 0
#define XENT_F32 1
#define XENT_F64 2
#define XENT_BF16 3

// ---- A row's statistics

// The slots of one row's statistics, in the order of the C struct `xent_row_stat` and of the OpenCL
// statistics buffer (XENT_STAT_COUNT accumulator values per row). The logsumexp is kept as
// max + log_sum, in two parts, so that a loss `(max - x_y) + log_sum` and an output
// `(x - max) - log_sum` stay exact for logits of large magnitude; `lse` is that sum as torch.logsumexp
// gives it (+inf for a row holding +inf and no NaN). With v_c = w_c for class indices and
// v_c = w_c ((1 - eps) q_c + eps / C) for probabilities: smooth = sum_c v_c (lse - x_c) and
// mass = sum_c v_c (both 0 unless XENT_ACCUMULATE_SMOOTH).
enum {
    XENT_STAT_LSE = 0,
    XENT_STAT_MAX = 1,
    XENT_STAT_LOG_SUM = 2,
    XENT_STAT_TARGET_LOGIT = 3,
    XENT_STAT_SMOOTH = 4,
    XENT_STAT_MASS = 5,
    XENT_STAT_COUNT = 6
};

#ifndef __OPENCL_C_VERSION__
/// One row's statistics, field by field in the slots' order (see XENT_STAT_LSE and the rest).
typedef struct xent_row_stat {
    double lse;
    double max;
    double log_sum;
    double target_logit;
    double smooth;
    double mass;
} xent_row_stat;
_Static_assert(sizeof(xent_row_stat) == XENT_STAT_COUNT * sizeof(double), "one double per slot");
#endif

// ---- Inputs and outputs

// Which optional inputs a batch has (an absent OpenCL buffer is a placeholder), in its options' `flags`.
#define XENT_HAS_TARGETS 1
#define XENT_HAS_PROBABILITIES 2
#define XENT_HAS_WEIGHT 4
// Accumulate the smoothing sums `smooth` and `mass` (label smoothing and probability targets).
#define XENT_ACCUMULATE_SMOOTH 8
// Each row's gradient is also scaled by its own upstream value (reduction `none`).
#define XENT_HAS_UPSTREAM 16
// The second pass computes no statistics: each row's logsumexp and gradient coefficients are given (rows
// holding a slice of the classes, whose statistics were merged with the other slices'; see
// XENT_GIVEN_MAX), and the run folds nothing.
#define XENT_GIVEN_GRADIENT 32

// The values given for one row with XENT_GIVEN_GRADIENT, in this order: its logsumexp as max + log_sum
// and the coefficients of its gradient out_c = a exp(x_c - max - log_sum) - b v_c - [c == y] t, with y its
// target (none when outside the row's classes) and v_c as in XENT_STAT_SMOOTH; every factor (upstream,
// divisor, z-loss) is in them. The C row kernels take XENT_GIVEN_COUNT doubles per row (`xent_rows.given`);
// the OpenCL kernels read them from the statistics buffer, in the first slots of each row's XENT_STAT_COUNT.
enum {
    XENT_GIVEN_MAX = 0,
    XENT_GIVEN_LOG_SUM = 1,
    XENT_GIVEN_A = 2,
    XENT_GIVEN_B = 3,
    XENT_GIVEN_T = 4,
    XENT_GIVEN_COUNT = 5
};

/// What the second pass over a row writes.
typedef enum xent_output_kind {
    XENT_OUTPUT_LOG_SOFTMAX = 0,
    XENT_OUTPUT_SOFTMAX = 1,
    XENT_OUTPUT_GRADIENT = 2
} xent_output_kind;

// ---- A batch's options

// The scalar options of a batch of rows and of what is written for them: one struct that the host
// fills once and both kernel families read, the C row kernels as `xent_row_options_f64` (in
// `xent_rows`), the OpenCL kernels as a kernel argument in their accumulation type (`row_options`:
// `xent_row_options_f32` for half and float programs). A new per-row option is a field here (and in
// xent_narrow_row_options), filled by the host (RowBatch.options) and read where the kernels use it.
// The 8-byte fields come first and the 4-byte ones last, so that host and device lay it out alike.
//   classes, inner   the row layout: classes `inner` elements apart
//   ignore_index     class-index targets equal to it are skipped
//   smoothing_classes the C of label smoothing's eps / C: `classes`, or the whole class count when the rows
//                    hold a slice of the classes
//   label_smoothing  eps
//   weight_total     the class weights' total (classes without weights)
//   gradient_scale   the cross-entropy terms of every row's gradient are scaled by it (and by the row's
//                    upstream value with XENT_HAS_UPSTREAM)
//   z_gradient_scale the z-loss term of the gradient, lse softmax, likewise: 2 z times the z-loss's
//                    reduction factor, 0 without a z-loss
//   softcap          s > 0: every logit x is read as s tanh(x / s) (Gemma 2's soft-capping); 0: none
//   flags            XENT_HAS_*, XENT_ACCUMULATE_SMOOTH
//   kind             what the second pass writes (xent_output_kind)
#define XENT_ROW_OPTIONS(REAL)                                                                                    \
    struct {                                                                                                      \
        xent_index classes;                                                                                       \
        xent_index inner;                                                                                         \
        xent_index ignore_index;                                                                                  \
        xent_index smoothing_classes;                                                                             \
        REAL label_smoothing;                                                                                     \
        REAL weight_total;                                                                                        \
        REAL gradient_scale;                                                                                      \
        REAL z_gradient_scale;                                                                                    \
        REAL softcap;                                                                                             \
        int flags;                                                                                                \
        int kind;                                                                                                 \
    }

#ifndef __OPENCL_C_VERSION__
typedef XENT_ROW_OPTIONS(double) xent_row_options_f64;
typedef XENT_ROW_OPTIONS(float) xent_row_options_f32;

/// The options in single precision, for the OpenCL programs that accumulate in float.
XENT_CONTRACT_FUNCTION xent_row_options_f32 xent_narrow_row_options(xent_row_options_f64 options) {
    xent_row_options_f32 narrow = {options.classes,
                                   options.inner,
                                   options.ignore_index,
                                   options.smoothing_classes,
                                   (float)options.label_smoothing,
                                   (float)options.weight_total,
                                   (float)options.gradient_scale,
                                   (float)options.z_gradient_scale,
                                   (float)options.softcap,
                                   options.flags,
                                   options.kind};
    return narrow;
}
#endif

// ---- Tunables that decide a row's path

// Up to this many classes, contiguous rows are processed one per vector lane (the C fallback).
#define XENT_SMALL_CLASSES 32
// Contiguous rows up to this size are read twice (maximum, then sums) since the second read hits the
// core's L2 cache; longer rows take one read (the online recurrence, or pieces of this size).
#define XENT_CACHED_ROW_BYTES (256 * 1024)
// Fused gradient rows from this size on are written while the next row's exps are computed (smaller
// rows are written at once: their writes are short enough to overlap the next row's reads anyway).
#define XENT_PIPELINED_ROW_BYTES (16 * 1024)
// Consecutive rows per work-item of the OpenCL kernel row_gradient_runs: the first row of each run is
// not overlapped with another.
#define XENT_GRADIENT_RUN_ROWS 8

/// The ways a row is processed; Kernels/README.md has the table of paths, C functions and OpenCL
/// kernels.
typedef enum xent_row_path {
    /// Classes `inner` elements apart (K-dimensional logits): the online (max, sum) recurrence, one read.
    XENT_PATH_STRIDED = 0,
    /// At most XENT_SMALL_CLASSES contiguous classes and no smoothing sums: one row per vector lane
    /// where the backend has that path (the C fallback), else XENT_PATH_TWO_PASS.
    XENT_PATH_FEW_CLASSES = 1,
    /// A contiguous row that fits in cache: its maximum, then one exp per element from cache.
    XENT_PATH_TWO_PASS = 2,
    /// A contiguous row longer than the cache: one read of each element.
    XENT_PATH_LONG_ROW = 3,
    /// A loss gradient of class-index targets: each exp computed once into scratch while summing, the
    /// gradient streamed out of it.
    XENT_PATH_FUSED_GRADIENT = 4,
    /// XENT_PATH_FUSED_GRADIENT with each row's gradient written while the next row's exps are computed.
    XENT_PATH_PIPELINED_GRADIENT = 5
} xent_row_path;

/// The path of the statistics of rows of `classes` elements of `storage_bytes` each, `inner` apart,
/// with or without the smoothing sums.
XENT_CONTRACT_FUNCTION xent_row_path xent_statistics_path(xent_index classes, xent_index inner,
                                                          xent_index storage_bytes, int smoothing_sums) {
    if (inner != 1) {
        return XENT_PATH_STRIDED;
    }
    if (classes <= XENT_SMALL_CLASSES && !smoothing_sums) {
        return XENT_PATH_FEW_CLASSES;
    }
    return classes * storage_bytes <= XENT_CACHED_ROW_BYTES ? XENT_PATH_TWO_PASS : XENT_PATH_LONG_ROW;
}

// What a backend's fused gradient takes (0: it has none for these rows). XENT_FUSES_GRADIENT is the
// base: contiguous rows of class-index targets without smoothing sums, of at least one vector of
// `lanes` and from XENT_PIPELINED_ROW_BYTES, stored in a 4- or 8-byte type; the others add to it.
#define XENT_FUSES_GRADIENT 1
#define XENT_FUSES_SMOOTHING 2  // rows with label smoothing's sums
#define XENT_FUSES_HALF 4       // rows stored in half precision
#define XENT_FUSES_SHORT_ROWS 8 // rows below XENT_PIPELINED_ROW_BYTES (else those take the general path)

/// The path of loss-gradient rows, for a backend whose fused gradient takes what `fuses` (XENT_FUSES_*)
/// says: XENT_PATH_FUSED_GRADIENT or XENT_PATH_PIPELINED_GRADIENT where it applies, else the
/// statistics path, after which the row's gradient is written from its statistics (two exps per
/// element). A row on a fused path whose target is ignored or out of range, or whose maximum is not
/// finite, still takes that general path, row by row.
XENT_CONTRACT_FUNCTION xent_row_path xent_gradient_path(xent_index classes, xent_index inner,
                                                        xent_index storage_bytes, xent_index lanes,
                                                        int class_index_targets, int smoothing_sums, int fuses) {
    const xent_row_path general = xent_statistics_path(classes, inner, storage_bytes, smoothing_sums);
    const xent_index row_bytes = classes * storage_bytes;
    if (!(fuses & XENT_FUSES_GRADIENT) || !class_index_targets || inner != 1 || classes < lanes ||
        row_bytes > XENT_CACHED_ROW_BYTES ||
        (smoothing_sums && !(fuses & XENT_FUSES_SMOOTHING)) || (storage_bytes == 2 && !(fuses & XENT_FUSES_HALF))) {
        return general;
    }
    if (row_bytes >= XENT_PIPELINED_ROW_BYTES) {
        return XENT_PATH_PIPELINED_GRADIENT;
    }
    return (fuses & XENT_FUSES_SHORT_ROWS) ? XENT_PATH_FUSED_GRADIENT : general;
}

#ifndef __OPENCL_C_VERSION__
/// The text of this header, which the OpenCL host layer puts before the kernel sources.
const char *xent_contract_source(void);
#endif

#endif
