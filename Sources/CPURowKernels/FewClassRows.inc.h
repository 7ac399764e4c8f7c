// Part of the row-kernel template RowKernel.inc.h (see its parameters there): the statistics of rows of
// few classes, one row per vector lane (XENT_PATH_FEW_CLASSES).

/// The maxima and sums of exp(x - max) of LANES rows with few classes, one row per lane: the block is
/// transposed so that every vector operation serves LANES rows. A class count that is a multiple of
/// LANES is transposed a square of vectors at a time in registers, any other one element by element.
/// `classes` is a constant where the caller passes one: the loops unroll and the block stays in
/// registers.
XENT_INLINE void FN(small_row_sums)(const STORAGE *x, int64_t classes, VEC *maxes, VEC *sums) {
    VEC columns[XENT_SMALL_CLASSES];
    // Each block is computed long enough for the hardware prefetcher alone to fall behind: fetch the
    // block 8 blocks ahead into L2 and the one 2 blocks ahead into L1, so that a memory access is in
    // flight for 6 blocks and the L1 fetch finds its lines in L2 (one distance of 2, 3, 4, 8 or 16
    // blocks alone was slower).
    const char *near = (const char *)(x + 2 * LANES * classes);
    const char *far = (const char *)(x + 8 * LANES * classes);
    for (int64_t offset = 0; offset < LANES * classes * (int64_t)sizeof(STORAGE); offset += 64) {
        __builtin_prefetch(near + offset);
        __builtin_prefetch(far + offset, 0, 1);
    }
    if (classes % LANES == 0) {
        for (int64_t c = 0; c < classes; c += LANES) {
#define XENT_ROW_PIECE(lane) LOAD(x + (lane) * classes + c)
            TRANSPOSE(columns + c, XENT_ROW_PIECE);
#undef XENT_ROW_PIECE
        }
    } else {
        for (int64_t c = 0; c < classes; c++) {
            for (int lane = 0; lane < LANES; lane++) {
                columns[c][lane] = WIDEN(x[lane * classes + c]);
            }
        }
    }
    VEC m = (VEC)LOWEST;
#pragma clang loop unroll_count(8)
    for (int64_t c = 0; c < classes; c++) {
        m = VMAX(m, columns[c]);
    }
    VEC s = (VEC)0;
#pragma clang loop unroll_count(8)
    for (int64_t c = 0; c < classes; c++) {
        s += VEXP_SUM(columns[c] - m);
    }
    // A lane whose maximum stayed LOWEST may hold no element equal to it (only -inf and NaN): its sum
    // lacks the term 1 that VEXP_SUM relies on, so it is summed again exactly (0 for a row of -inf).
    if (__builtin_reduce_or((m == (VEC)LOWEST) != 0)) {
        VEC exact = (VEC)0;
        for (int64_t c = 0; c < classes; c++) {
            exact += VEXP(columns[c] - m);
        }
        s = m == (VEC)LOWEST ? exact : s;
    }
    *maxes = m;
    *sums = s;
}

/// Rows [row0, row0 + count) with few classes, count a multiple of LANES (contiguous rows without
/// smoothing terms, classes <= XENT_SMALL_CLASSES), into the start of `block`. The sums of all the
/// rows come first, then their logs and statistics, so that the logs of different blocks of LANES
/// rows overlap rather than each waiting on its own sums.
XENT_INLINE void FN(small_rows)(const xent_rows *rows, int64_t classes, int64_t row0, int64_t count,
                                xent_stat_block *block) {
    const STORAGE *x = (const STORAGE *)rows->logits + row0 * classes;
    ACC maxes[XENT_FOLD_ROWS], sums[XENT_FOLD_ROWS];
    const int64_t *targets = rows->targets ? rows->targets + row0 : NULL;
    for (int64_t r = 0; r < count; r += LANES) {
        VEC m, s;
        FN(small_row_sums)(x + r * classes, classes, &m, &s);
        memcpy(maxes + r, &m, sizeof m);
        memcpy(sums + r, &s, sizeof s);
        if (targets) {
            // The target logits while the block is in L1, and the targets of the block fetched next.
            __builtin_prefetch(targets + r + 4 * LANES);
            __builtin_prefetch(targets + r + 5 * LANES - 1);
            for (int64_t i = r; i < r + LANES; i++) {
                const int64_t y = targets[i];
                block->target_logit[i] = y >= 0 && y < classes ? (double)WIDEN(x[i * classes + y]) : 0;
            }
        }
    }
    for (int64_t r = 0; r < count; r += LANES) {
        VEC m, s;
        memcpy(&m, maxes + r, sizeof m);
        memcpy(&s, sums + r, sizeof s);
        const VEC logSums = VLOG(s);
        const VECD maxima = __builtin_convertvector(m, VECD), logs = __builtin_convertvector(logSums, VECD);
        VECD lse = maxima + logs;
        if (__builtin_reduce_or((m == (VEC)INFINITY) != 0)) {
            for (int lane = 0; lane < LANES; lane++) {
                lse[lane] = FN(torch_lse)(x + (r + lane) * classes, classes, 1, m[lane], logSums[lane]);
            }
        }
        memcpy(block->lse + r, &lse, sizeof lse);
        memcpy(block->max + r, &maxima, sizeof maxima);
        memcpy(block->log_sum + r, &logs, sizeof logs);
    }
    if (!targets) {
        memset(block->target_logit, 0, (size_t)count * sizeof(double));
    }
    memset(block->smooth, 0, (size_t)count * sizeof(double));
    memset(block->mass, 0, (size_t)count * sizeof(double));
}
