// The row kernels for one storage type of the inputs and one of the outputs: a template included once
// per pair and ISA level by RowKernelsForISA.inc.h, after one of the input parameter blocks
// RowKernelParameters{F16,BF16,F32,F64}.inc.h, which defines:
//   STORAGE      element type of the logits (and probabilities) in memory
//   STORAGE_NAME its name (f16, bf16, f32, f64)
//   ACC, VEC     accumulation scalar and its vector (LANES lanes)
//   ACC_NAME     the accumulation type's name (f32, f64)
//   LOAD         vector load from STORAGE
//   WIDEN(v)     one STORAGE value as ACC
//   VEXP, VMAX   vector exp and max
//   VEXP_SUM     vector exp for terms that are only summed (may round results below 2^-126 up)
//   TRANSPOSE    transpose of LANES vectors (XENT_TRANSPOSE16 or XENT_TRANSPOSE8)
//   SEXP, SLOG   scalar exp and log of ACC
//   LOWEST       the most negative finite ACC: the running max starts there, so -inf lanes give no NaN
//   VECD         a vector of LANES doubles
//   VEC_MASK     the integer vector a comparison of two VECs gives
//   HSUM, HMAX   horizontal sum and maximum of a VEC
//   IOTA         the VEC of lane indices 0, 1, …
//   VLOG         vector log
//   VTANH        vector tanh, for float lanes only (soft-capping; SoftCappedRows.inc.h)
// and after one of the output parameter blocks RowKernelOutput{F16,BF16,F32,F64}.inc.h, which defines:
//   OUT          element type of the outputs (STORAGE, or float for half-precision inputs)
//   OUT_NAME     its name
//   STORE        vector store of a VEC to OUT
//   STREAM       the same store past the cache (to an address of OUT aligned to the vector's bytes)
//   NARROW(v)    an ACC rounded to OUT (to nearest even)
//
// Every function's name is FN(name): `name` with SUFFIX appended (grep for `FN(name)`). Which path a
// row takes is decided by xent_statistics_path and xent_gradient_path of the contract header; the
// template's parts are RowStatistics.inc.h (one row at a time), FewClassRows.inc.h (rows across the
// lanes), RowOutputs.inc.h (outputs from statistics, and the gradient's coefficients) and
// FusedGradient.inc.h (the fused and pipelined gradient); this file ties them into FN(run).

#define XENT_CAT_(a, b) a##_##b
#define XENT_CAT(a, b) XENT_CAT_(a, b)
// The functions' name suffix: the input and output names and the ISA level (f16_f32_v4, ...).
#define SUFFIX XENT_CAT(XENT_CAT(STORAGE_NAME, OUT_NAME), XENT_ISA)
#define FN(name) XENT_CAT(name, SUFFIX)

#include "RowStatistics.inc.h"
#include "FewClassRows.inc.h"
#include "RowOutputs.inc.h"
#include "FusedGradient.inc.h"

/// The statistics of rows [begin, end) into `block`, whole blocks of LANES rows of few classes across
/// the lanes (unless their exps are kept: with class-index targets, rows of fewer than 2^24 classes,
/// which FN(kept_row_stat) compares as ACC, beside the pending gradient; the others two-pass).
XENT_INLINE void FN(statistics)(const xent_rows *rows, int64_t begin, int64_t end, xent_stat_block *block) {
    int64_t row = begin;
    if (rows->kept && rows->targets && !rows->probabilities && rows->options.inner == 1 &&
        rows->options.classes < ((int64_t)1 << 24)) {
        for (; row < end; row++) {
            store_stat(block, row - begin, FN(kept_row_stat)(rows, row));
        }
        return;
    }
    if (!rows->kept && xent_statistics_path(rows->options.classes, rows->options.inner, (int64_t)sizeof(STORAGE), (rows->options.flags & XENT_ACCUMULATE_SMOOTH) != 0) ==
        XENT_PATH_FEW_CLASSES) {
        const int64_t count = (end - begin) / LANES * LANES;
        if (rows->options.classes == LANES) {
            FN(small_rows)(rows, LANES, begin, count, block);
        } else {
            FN(small_rows)(rows, rows->options.classes, begin, count, block);
        }
        row += count;
    }
    for (; row < end; row++) {
        FN(norm) norm;
        store_stat(block, row - begin, FN(row_stat)(rows, row, &norm));
    }
}


/// Statistics and outputs of rows [begin, end); `scratch` from FN(fused_scratch).
XENT_INLINE void FN(outputs)(const xent_rows *rows, const xent_outputs *outputs, ACC *scratch, int64_t begin,
                             int64_t end, xent_stat_block *block) {
    const int64_t classes = rows->options.classes, inner = rows->options.inner;
    const ACC *w = (const ACC *)rows->weight;
    const int fusable = scratch != NULL;
    const int pipelined = fusable && FN(gradient_path)(rows) == XENT_PATH_PIPELINED_GRADIENT;
    // A fused row's gradient waits for the next fused row; rows of the general path in between write
    // their own rows and leave it pending.
    FN(pending_gradient) pending = {NULL, !outputs->cached, NULL, 0, 0, 0, 0};
    for (int64_t row = begin; row < end; row++) {
        const int64_t base = FN(row_base)(row, classes, inner);
        const STORAGE *x = (const STORAGE *)rows->logits + base;
        OUT *out = (OUT *)outputs->destination + base;
        if (fusable) {
            const int64_t y = rows->targets[row];
            const FN(gradient_scales) scales = FN(row_gradient_scales)(rows, outputs, row);
            xent_row_stat stat;
            // Without smoothing terms (the usual case) the exp loops are compiled without their sums.
            if (y != rows->options.ignore_index && y >= 0 && y < classes &&
                ((rows->options.flags & XENT_ACCUMULATE_SMOOTH) ? FN(fused_gradient_row)(rows, x, out, y, scales, 1, scratch, &pending, &stat)
                                         : FN(fused_gradient_row)(rows, x, out, y, scales, 0, scratch, &pending, &stat))) {
                store_stat(block, row - begin, stat);
                if (!pipelined) {
                    FN(flush_gradient)(&pending, w, classes);
                }
                continue;
            }
        }
        FN(norm) n;
        const xent_row_stat stat = FN(row_stat)(rows, row, &n);
        store_stat(block, row - begin, stat);
        switch (rows->options.kind) {
        case XENT_OUTPUT_LOG_SOFTMAX:
            FN(write_log_softmax)(x, out, classes, inner, n);
            break;
        case XENT_OUTPUT_SOFTMAX:
            FN(write_scaled_softmax)(x, FN(softmax_source_of)(NULL, n), NULL, NULL, out, classes, inner, n, 1, 0, 0, 0);
            break;
        case XENT_OUTPUT_GRADIENT:
            FN(write_gradient)(rows, outputs, row, x, out, base, stat, n);
            break;
        }
    }
    FN(flush_gradient)(&pending, w, classes);
}


/// Rows [begin, end) in blocks whose statistics stay in L1, each folded into `results` as it is done;
/// `scratch` from FN(fused_scratch) for these rows and outputs.
XENT_INLINE double FN(run_rows)(const xent_rows *rows, const xent_outputs *outputs, const xent_row_results *results,
                                int64_t begin, int64_t end, ACC *scratch) {
    if (rows->given) {
        for (int64_t row = begin; row < end; row++) {
            const int64_t base = FN(row_base)(row, rows->options.classes, rows->options.inner);
            FN(write_given_gradient)(rows, row, (const STORAGE *)rows->logits + base, (OUT *)outputs->destination + base,
                                     base, outputs->cached);
        }
#if defined(__x86_64__)
        __builtin_ia32_sfence();  // order the streamed stores before the caller reads the gradient
#endif
        return 0;
    }
    xent_stat_block block;
    xent_fold fold = {0, 0};
    for (int64_t first = begin; first < end; first += XENT_FOLD_ROWS) {
        const int64_t last = end - first > XENT_FOLD_ROWS ? first + XENT_FOLD_ROWS : end;
        if (outputs) {
            FN(outputs)(rows, outputs, scratch, first, last, &block);
        } else {
            FN(statistics)(rows, first, last, &block);
            if (results->predicted || results->entropy) {
                FN(row_extras)(rows, results, first, last, &block);
            }
        }
        fold_block(&fold, results, first, &block, last - first);
    }
#if defined(__x86_64__)
    if (outputs || rows->pending) {
        __builtin_ia32_sfence();  // order the streamed stores before the caller reads the outputs
    }
#endif
    return fold_total(fold);
}

/// Rows [begin, end), with the fused gradient's scratch made for them.
XENT_INLINE double FN(run)(const xent_rows *rows, const xent_outputs *outputs, const xent_row_results *results,
                           int64_t begin, int64_t end) {
    ACC *scratch = outputs ? FN(fused_scratch)(rows, outputs) : NULL;
    const double total = FN(run_rows)(rows, outputs, results, begin, end, scratch);
    free(scratch);
    return total;
}

#undef FN
#undef SUFFIX
#undef XENT_CAT
#undef XENT_CAT_
