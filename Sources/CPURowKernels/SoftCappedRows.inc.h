// Soft-capped rows (Gemma 2's logit soft-capping, the options' `softcap` s > 0): every logit x passes
// through c = s tanh(x / s) before anything else, and a gradient carries the factor dc/dx = 1 - (c/s)^2.
// Included by RowKernelsForISA.inc.h after each instantiation of the row-kernel template RowKernel.inc.h,
// within the same parameter blocks (see the list there): the input's (STORAGE, STORAGE_NAME, LOAD,
// WIDEN, ACC, ACC_NAME, and VTANH where the lanes are float) and the output's (OUT, OUT_NAME, NARROW).
// The row kernels of ACC_NAME logits and outputs, which run the capped rows, and cap_ACC_NAME must come
// before it.
//
// Rows are taken a block at a time: their capped logits (and probabilities) are gathered into
// contiguous rows of the accumulation type, which the row kernels of that type then run as any batch,
// on every path (few classes, two passes, long rows, fused and pipelined gradients), and their outputs
// are scattered back, a gradient times 1 - (c/s)^2. The logits are read once from memory; the blocks
// stay in cache.

#define CAPPED_CAT_(a, b) a##_##b
#define CAPPED_CAT(a, b) CAPPED_CAT_(a, b)
#define CAPPED_FN(name) XENT_ISA_NAME(CAPPED_CAT(CAPPED_CAT(name, STORAGE_NAME), OUT_NAME), XENT_ISA)
#define ACC_FN(name) XENT_ISA_NAME(CAPPED_CAT(CAPPED_CAT(name, ACC_NAME), ACC_NAME), XENT_ISA)
#define ACC_RUN_ROWS ACC_FN(run_rows)
#define ACC_FUSED_SCRATCH ACC_FN(fused_scratch)
#define CAP_BLOCK XENT_ISA_NAME(CAPPED_CAT(cap, ACC_NAME), XENT_ISA)

#ifdef VTANH
/// Caps `count` contiguous logits `x` into `capped`, s tanh(x · (1 / s)), and prefetches one line of `next`
/// (the next block's logits, `next_bytes` of them) per vector, so that reading the next block from memory
/// overlaps this block's work.
XENT_INLINE void CAPPED_FN(cap_from)(ACC *capped, const STORAGE *x, int64_t count, ACC s, const STORAGE *next,
                                     int64_t next_bytes) {
    const ACC inverse = 1 / s;
    int64_t i = 0, line = 0;
    for (; i + 16 <= count; i += 16, line += 64) {
        if (line < next_bytes) {
            __builtin_prefetch((const char *)next + line);
        }
        xent_store_f32(capped + i, s * VTANH(LOAD(x + i) * inverse));
    }
    for (int64_t rest = i; rest < count; rest++) {
        capped[rest] = WIDEN(x[rest]);
    }
    CAP_BLOCK(capped + i, count - i, s);
}
#endif

/// Rows [begin, end) of a soft-capped batch, as FN(run) for a batch without a cap.
static double CAPPED_FN(capped_run)(const xent_rows *rows, const xent_outputs *outputs,
                                     const xent_row_results *results, int64_t begin, int64_t end) {
    const int64_t classes = rows->options.classes, inner = rows->options.inner;
    const ACC s = (ACC)rows->options.softcap;
    // About 64 KiB of logits a block, and whole blocks of 16 rows where rows are short.
    int64_t block_rows = (int64_t)(65536 / sizeof(ACC)) / (classes > 0 ? classes : 1);
    block_rows = block_rows < 1 ? 1 : block_rows > 16 ? block_rows / 16 * 16 : block_rows;
    const size_t block_bytes = ((size_t)(block_rows * classes) * sizeof(ACC) + 63) / 64 * 64 + 64;
    ACC *capped = (ACC *)aligned_alloc(64, block_bytes);
    ACC *probabilities = rows->probabilities ? (ACC *)aligned_alloc(64, block_bytes) : NULL;
    ACC *written = outputs ? (ACC *)aligned_alloc(64, block_bytes) : NULL;
    // The fused gradient's scratch is made once, for rows of this length (the blocks' layout is fixed).
    xent_rows layout = *rows;
    layout.probabilities = probabilities;
    layout.options.inner = 1;
    ACC *fused_scratch = outputs ? ACC_FUSED_SCRATCH(&layout, outputs) : NULL;
    xent_fold fold = {0, 0};
    for (int64_t first = begin; first < end; first += block_rows) {
        const int64_t count = end - first < block_rows ? end - first : block_rows;
        if (inner == 1) {
            // Contiguous rows: the block is one run of elements.
            const STORAGE *x = (const STORAGE *)rows->logits + first * classes;
            const STORAGE *q = probabilities ? (const STORAGE *)rows->probabilities + first * classes : NULL;
#ifdef VTANH
            const int64_t next_count = end - (first + count) < block_rows ? end - (first + count) : block_rows;
            CAPPED_FN(cap_from)(capped, x, count * classes, s, x + count * classes,
                                next_count * classes * (int64_t)sizeof(STORAGE));
#else
            for (int64_t i = 0; i < count * classes; i++) {
                capped[i] = WIDEN(x[i]);
            }
            CAP_BLOCK(capped, count * classes, s);
#endif
            for (int64_t i = 0; q && i < count * classes; i++) {
                probabilities[i] = WIDEN(q[i]);
            }
        } else {
            for (int64_t r = 0; r < count; r++) {
                const int64_t base = ((first + r) / inner) * classes * inner + (first + r) % inner;
                for (int64_t c = 0; c < classes; c++) {
                    capped[r * classes + c] = WIDEN(((const STORAGE *)rows->logits)[base + c * inner]);
                    if (probabilities) {
                        probabilities[r * classes + c] = WIDEN(((const STORAGE *)rows->probabilities)[base + c * inner]);
                    }
                }
            }
            CAP_BLOCK(capped, count * classes, s);
        }
        xent_rows block = *rows;
        block.logits = capped;
        block.probabilities = probabilities;
        block.targets = rows->targets ? rows->targets + first : NULL;
        block.given = rows->given ? rows->given + first * XENT_GIVEN_COUNT : NULL;
        block.kept = NULL;  // the host keeps no exps of soft-capped rows (their gradient needs the capped values)
        block.options.inner = 1;
        block.options.softcap = 0;
        xent_outputs block_outputs = {written, sizeof(ACC) == sizeof(double) ? XENT_F64 : XENT_F32,
                                      outputs && outputs->row_upstream ? outputs->row_upstream + first : NULL, 1};
        xent_loss_rule rule;
        xent_target_check check = {-1, 0};
        xent_row_results block_results = *results;
        if (results->rule) {
            rule = *results->rule;
            rule.targets = rule.targets ? rule.targets + first : NULL;
            block_results.rule = &rule;
        }
        block_results.row_losses = results->row_losses ? results->row_losses + first : NULL;
        block_results.lse = results->lse ? results->lse + first : NULL;
        block_results.check = results->check ? &check : NULL;
        block_results.predicted = results->predicted ? results->predicted + first : NULL;
        block_results.entropy = results->entropy ? results->entropy + first : NULL;
        block_results.statistics = results->statistics ? results->statistics + first : NULL;
        fold_add(&fold, ACC_RUN_ROWS(&block, outputs ? &block_outputs : NULL, &block_results, 0, count, fused_scratch));
        if (results->check) {
            if (results->check->first_bad < 0 && check.first_bad >= 0) {
                results->check->first_bad = first + check.first_bad;
            }
            results->check->kept += check.kept;
        }
        if (outputs) {
            // A gradient times d capped / dx = 1 - (capped / s)^2; other outputs as they are.
            if (rows->options.kind == XENT_OUTPUT_GRADIENT) {
                const ACC inverse = 1 / s;
                for (int64_t i = 0; i < count * classes; i++) {
                    const ACC t = capped[i] * inverse;
                    written[i] *= 1 - t * t;
                }
            }
            OUT *out = (OUT *)outputs->destination;
            if (inner == 1) {
                for (int64_t i = 0; i < count * classes; i++) {
                    out[first * classes + i] = NARROW(written[i]);
                }
            } else {
                for (int64_t r = 0; r < count; r++) {
                    const int64_t base = ((first + r) / inner) * classes * inner + (first + r) % inner;
                    for (int64_t c = 0; c < classes; c++) {
                        out[base + c * inner] = NARROW(written[r * classes + c]);
                    }
                }
            }
        }
    }
    free(capped);
    free(probabilities);
    free(written);
    free(fused_scratch);
    return fold_total(fold);
}

#undef CAPPED_FN
#undef CAPPED_CAT
#undef CAPPED_CAT_
#undef ACC_FN
#undef ACC_RUN_ROWS
#undef ACC_FUSED_SCRATCH
#undef CAP_BLOCK
