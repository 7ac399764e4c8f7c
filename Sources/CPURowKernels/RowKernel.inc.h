// The row kernels for one storage type, included once per dtype and ISA level by
// RowKernelsForISA.inc.h with:
//   SUFFIX       name suffix (f16_v4, f32_baseline, ...)
//   STORAGE      element type in memory
//   ACC, VEC     accumulation scalar and its vector (LANES lanes)
//   LOAD, STORE  vector load/store from/to STORAGE
//   VEXP, VMAX   vector exp and max
//   VEXP_SUM     vector exp for terms that are only summed (may round results below 2^-126 up)
//   TRANSPOSE    transpose of LANES vectors (XENT_TRANSPOSE16 or XENT_TRANSPOSE8)
//   SEXP, SLOG   scalar exp and log of ACC
//   LOWEST       the most negative finite ACC: the running max starts there, so -inf lanes give no NaN
//   VECD         a vector of LANES doubles
//   VEC_MASK     the integer vector a comparison of two VECs gives

#define XENT_CAT_(a, b) a##_##b
#define XENT_CAT(a, b) XENT_CAT_(a, b)
#define FN(name) XENT_CAT(name, SUFFIX)

/// The online (max, sum) pair of a stream of logits, with the weighted deviation sum d = sum v (x - m)
/// and the weight mass sum v that label smoothing and probability targets need.
typedef struct {
    ACC m, s, d, v;
} FN(state);

XENT_INLINE void FN(push)(FN(state) * st, ACC x, ACC v, int smooth) {
    ACC mn = x > st->m ? x : st->m;
    if (smooth) {
        st->d += st->v * (st->m - mn) + v * (x - mn);
        st->v += v;
    }
    st->s = st->s * SEXP(st->m - mn) + SEXP(x - mn);
    st->m = mn;
}

/// The per-element weight v_c: w_c for class indices, w_c * (qa * q_c + qb) for probabilities.
XENT_INLINE ACC FN(element_weight)(const STORAGE *q, const ACC *w, int64_t index, int64_t c, ACC qa, ACC qb) {
    ACC v = w ? w[c] : (ACC)1;
    return q ? v * (qa * (ACC)q[index] + qb) : v;
}

XENT_INLINE VEC FN(vector_weight)(const STORAGE *q, const ACC *w, int64_t c, ACC qa, ACC qb) {
    VEC v = (VEC)1;
    if (w) {
        memcpy(&v, w + c, sizeof v);
    }
    return q ? v * (qa * LOAD(q + c) + qb) : v;
}

/// Scans a contiguous row. Constant `smooth`, `q` and `w` fold away after inlining.
XENT_INLINE FN(state) FN(scan_contiguous)(const STORAGE *x, const STORAGE *q, const ACC *w, int64_t classes,
                                        int smooth, ACC qa, ACC qb) {
    VEC m = (VEC)LOWEST, s = (VEC)0, d = (VEC)0, vs = (VEC)0;
    int64_t c = 0;
    for (; c + 4 * LANES <= classes; c += 4 * LANES) {
        VEC x0 = LOAD(x + c), x1 = LOAD(x + c + LANES);
        VEC x2 = LOAD(x + c + 2 * LANES), x3 = LOAD(x + c + 3 * LANES);
        VEC mn = VMAX(m, VMAX(VMAX(x0, x1), VMAX(x2, x3)));
        if (smooth) {
            VEC v0 = FN(vector_weight)(q, w, c, qa, qb);
            VEC v1 = FN(vector_weight)(q, w, c + LANES, qa, qb);
            VEC v2 = FN(vector_weight)(q, w, c + 2 * LANES, qa, qb);
            VEC v3 = FN(vector_weight)(q, w, c + 3 * LANES, qa, qb);
            d += vs * (m - mn) + v0 * (x0 - mn) + v1 * (x1 - mn) + v2 * (x2 - mn) + v3 * (x3 - mn);
            vs += (v0 + v1) + (v2 + v3);
        }
        VEC e = (VEXP(x0 - mn) + VEXP(x1 - mn)) + (VEXP(x2 - mn) + VEXP(x3 - mn));
        s = s * VEXP(m - mn) + e;
        m = mn;
    }
    for (; c + LANES <= classes; c += LANES) {
        VEC x0 = LOAD(x + c);
        VEC mn = VMAX(m, x0);
        if (smooth) {
            VEC v0 = FN(vector_weight)(q, w, c, qa, qb);
            d += vs * (m - mn) + v0 * (x0 - mn);
            vs += v0;
        }
        s = s * VEXP(m - mn) + VEXP(x0 - mn);
        m = mn;
    }
    if (c < classes) {
        // The last partial vector, through copies padded with -inf logits and zero weights; the
        // padded lanes are masked out of the deviation sum, where 0 * -inf would be NaN.
        const int64_t rest = classes - c;
        STORAGE xs[LANES], qs[LANES];
        ACC ws[LANES];
        for (int lane = 0; lane < LANES; lane++) {
            xs[lane] = lane < rest ? x[c + lane] : (STORAGE)-INFINITY;
            qs[lane] = lane < rest && q ? q[c + lane] : (STORAGE)0;
            ws[lane] = lane < rest ? (w ? w[c + lane] : (ACC)1) : (ACC)0;
        }
        VEC x0 = LOAD(xs);
        VEC mn = VMAX(m, x0);
        if (smooth) {
            VEC v0 = FN(vector_weight)(q ? qs : NULL, ws, 0, qa, qb);
            d += vs * (m - mn) + (IOTA < (ACC)rest ? v0 * (x0 - mn) : (VEC)0);
            vs += v0;
        }
        s = s * VEXP(m - mn) + VEXP(x0 - mn);
        m = mn;
    }
    // Merge the lanes. A lane that saw no finite logit keeps m = LOWEST and s = 0 and adds nothing.
    FN(state) st;
    st.m = HMAX(m);
    st.s = HSUM(s * VEXP(m - st.m));
    st.d = 0;
    st.v = 0;
    if (smooth) {
        st.d = HSUM(d + (vs != 0 ? vs * (m - st.m) : (VEC)0));
        st.v = HSUM(vs);
    }
    return st;
}

/// The index of the first element of `p` at a 64-byte boundary.
XENT_INLINE int64_t FN(to_line_boundary)(const STORAGE *p) {
    return (int64_t)(((64 - ((uintptr_t)p & 63)) & 63) / sizeof(STORAGE));
}

/// The maximum of a contiguous row, NaN skipped (-inf for a row of -inf or of no classes): element by
/// element up to the first 64-byte boundary, then aligned vectors, then the rest. (A maximum is exact
/// in any order, so where the row lies changes nothing.)
XENT_INLINE ACC FN(row_max)(const STORAGE *x, int64_t classes) {
    const int64_t toBoundary = FN(to_line_boundary)(x);
    const int64_t head = toBoundary < classes ? toBoundary : classes;
    ACC m = -INFINITY;
    for (int64_t c = 0; c < head; c++) {
        m = (ACC)x[c] > m ? (ACC)x[c] : m;
    }
    VEC mv = (VEC)m;
    int64_t c = head;
    for (; c + 4 * LANES <= classes; c += 4 * LANES) {
        mv = VMAX(mv, VMAX(VMAX(LOAD(x + c), LOAD(x + c + LANES)), VMAX(LOAD(x + c + 2 * LANES), LOAD(x + c + 3 * LANES))));
    }
    for (; c + LANES <= classes; c += LANES) {
        mv = VMAX(mv, LOAD(x + c));
    }
    m = HMAX(mv);
    for (; c < classes; c++) {
        m = (ACC)x[c] > m ? (ACC)x[c] : m;
    }
    return m;
}

/// Scans a contiguous row that fits in the core's L2 cache in two passes: its maximum M from memory,
/// then sum exp(x - M) (and the deviation terms) from cache. One exp per element and no rescaling.
/// A NaN anywhere reaches the sum; a row of -inf (or empty) gets s = 0, so its logsumexp is -inf, as
/// PyTorch's.
XENT_INLINE FN(state) FN(scan_two_pass)(const STORAGE *x, const STORAGE *q, const ACC *w, int64_t classes,
                                      int smooth, ACC qa, ACC qb) {
    const ACC m = FN(row_max)(x, classes);
    VEC s = (VEC)0, d = (VEC)0, vs = (VEC)0;
    int64_t c = 0;
    if (!smooth) {
        // Four independent sums, so the loop is not bound by the latency of one chain of adds.
        VEC s1 = (VEC)0, s2 = (VEC)0, s3 = (VEC)0;
        for (; c + 4 * LANES <= classes; c += 4 * LANES) {
            // Fetch the next row (it follows this one) while this loop is busy computing, and the
            // lines XENT_FAR_PREFETCH_BYTES beyond into L2.
            __builtin_prefetch(x + classes + c);
            __builtin_prefetch(x + classes + c + 2 * LANES);
            if (sizeof(STORAGE) * LANES >= 64) {
                __builtin_prefetch(x + classes + c + LANES);
                __builtin_prefetch(x + classes + c + 3 * LANES);
            }
            for (int64_t line = 0; line < 4 * LANES * (int64_t)sizeof(STORAGE); line += 64) {
                __builtin_prefetch((const char *)(x + classes + c) + XENT_FAR_PREFETCH_BYTES + line, 0, 1);
            }
            s += VEXP_SUM(LOAD(x + c) - m);
            s1 += VEXP_SUM(LOAD(x + c + LANES) - m);
            s2 += VEXP_SUM(LOAD(x + c + 2 * LANES) - m);
            s3 += VEXP_SUM(LOAD(x + c + 3 * LANES) - m);
        }
        s += (s1 + s2) + s3;
    }
    for (; c + LANES <= classes; c += LANES) {
        VEC xm = LOAD(x + c) - m;
        s += VEXP_SUM(xm);
        if (smooth) {
            VEC v = FN(vector_weight)(q, w, c, qa, qb);
            d += v * xm;
            vs += v;
        }
    }
    FN(state) st = {m, HSUM(s), smooth ? HSUM(d) : 0, smooth ? HSUM(vs) : 0};
    for (; c < classes; c++) {
        const ACC xm = (ACC)x[c] - m;
        st.s += SEXP(xm);
        if (smooth) {
            const ACC v = FN(element_weight)(q, w, c, c, qa, qb);
            st.d += v * xm;
            st.v += v;
        }
    }
    if (m == -INFINITY) {
        // No finite maximum: the sum is 0 (lse = -inf) unless a NaN is present.
        st.s = 0;
        for (c = 0; c < classes; c++) {
            st.s += isnan((ACC)x[c]) ? (ACC)NAN : 0;
        }
    }
    return st;
}

XENT_INLINE FN(state) FN(scan_strided)(const STORAGE *x, const STORAGE *q, const ACC *w, int64_t classes,
                                     int64_t stride, int smooth, ACC qa, ACC qb) {
    FN(state) st = {LOWEST, 0, 0, 0};
    for (int64_t c = 0; c < classes; c++) {
        FN(push)(&st, (ACC)x[c * stride], smooth ? FN(element_weight)(q, w, c * stride, c, qa, qb) : (ACC)0, smooth);
    }
    return st;
}

/// The row's logsumexp as torch.logsumexp gives it: +inf for a row holding +inf and no NaN (where the
/// sum itself is NaN), else max + log_sum.
XENT_INLINE double FN(torch_lse)(const STORAGE *x, int64_t classes, int64_t stride, ACC m, ACC logSum) {
    if (m == INFINITY) {
        for (int64_t c = 0; c < classes; c++) {
            if (isnan((ACC)x[c * stride])) {
                return NAN;
            }
        }
        return INFINITY;
    }
    return (double)m + (double)logSum;
}

/// A row's logsumexp as its two parts, max + log(sum): `x - lse` is computed as `(x - max) - log_sum`,
/// exact for logits of large magnitude where `lse` itself would be rounded to their ulp.
typedef struct {
    ACC max, log_sum;
} FN(norm);

/// Where row `row` starts in the (outer, classes, inner) layout.
XENT_INLINE int64_t FN(row_base)(int64_t row, int64_t classes, int64_t inner) {
    return inner == 1 ? row * classes : (row / inner) * classes * inner + row % inner;
}

/// One row's statistics; `*norm` receives the row's logsumexp in two parts. The statistics' `lse` is
/// their sum in double precision.
XENT_INLINE xent_row_stat FN(row_stat)(const xent_rows *rows, int64_t row, FN(norm) * norm) {
    const int64_t classes = rows->classes, inner = rows->inner;
    const int64_t base = FN(row_base)(row, classes, inner);
    const STORAGE *x = (const STORAGE *)rows->logits + base;
    const STORAGE *q = rows->probabilities ? (const STORAGE *)rows->probabilities + base : NULL;
    const ACC *w = (const ACC *)rows->weight;
    const ACC eps = (ACC)rows->label_smoothing;
    const ACC qa = 1 - eps, qb = classes > 0 ? eps / (ACC)classes : 0;
    const int smooth = rows->accumulate_smooth != 0;
    FN(state) st;
    if (inner != 1) {
        st = FN(scan_strided)(x, q, w, classes, inner, smooth, qa, qb);
    } else if (classes * (int64_t)sizeof(STORAGE) <= XENT_CACHED_ROW_BYTES) {
        if (!smooth) {
            st = FN(scan_two_pass)(x, NULL, NULL, classes, 0, 0, 0);
        } else if (!q && !w) {
            st = FN(scan_two_pass)(x, NULL, NULL, classes, 1, 0, 0);
        } else if (!q) {
            st = FN(scan_two_pass)(x, NULL, w, classes, 1, 0, 0);
        } else {
            st = FN(scan_two_pass)(x, q, w, classes, 1, qa, qb);
        }
    } else if (!smooth) {
        st = FN(scan_contiguous)(x, NULL, NULL, classes, 0, 0, 0);
    } else if (!q && !w) {
        st = FN(scan_contiguous)(x, NULL, NULL, classes, 1, 0, 0);
    } else if (!q) {
        st = FN(scan_contiguous)(x, NULL, w, classes, 1, 0, 0);
    } else {
        st = FN(scan_contiguous)(x, q, w, classes, 1, qa, qb);
    }
    const ACC logSum = SLOG(st.s);
    norm->max = st.m;
    norm->log_sum = logSum;
    xent_row_stat stat = {FN(torch_lse)(x, classes, inner, st.m, logSum), st.m, logSum, 0, 0, 0};
    if (smooth) {
        stat.smooth = (double)(st.v * logSum - st.d);
        stat.mass = (double)st.v;
    }
    if (rows->targets) {
        const int64_t y = rows->targets[row];
        if (y >= 0 && y < classes) {
            stat.target_logit = (double)x[y * inner];
        }
    }
    return stat;
}

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
                columns[c][lane] = (ACC)x[lane * classes + c];
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
                block->target_logit[i] = y >= 0 && y < classes ? (double)x[i * classes + y] : 0;
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

XENT_INLINE void FN(statistics)(const xent_rows *rows, int64_t begin, int64_t end, xent_stat_block *block) {
    int64_t row = begin;
    if (rows->inner == 1 && rows->classes <= XENT_SMALL_CLASSES && !rows->accumulate_smooth) {
        const int64_t count = (end - begin) / LANES * LANES;
        if (rows->classes == LANES) {
            FN(small_rows)(rows, LANES, begin, count, block);
        } else {
            FN(small_rows)(rows, rows->classes, begin, count, block);
        }
        row += count;
    }
    for (; row < end; row++) {
        FN(norm) norm;
        store_stat(block, row - begin, FN(row_stat)(rows, row, &norm));
    }
}

/// out_c = a * exp(x_c - lse) - b * v_c: the softmax (a = 1, b = 0) and every gradient; the target's
/// extra term is applied by the caller.
XENT_INLINE void FN(write_scaled_softmax)(const STORAGE *x, const STORAGE *q, const ACC *w, STORAGE *out,
                                          int64_t classes, int64_t stride, FN(norm) n, ACC a, ACC b, ACC qa, ACC qb) {
    int64_t c = 0;
    if (stride == 1) {
        for (; c + LANES <= classes; c += LANES) {
            VEC g = a * VEXP((LOAD(x + c) - n.max) - n.log_sum);
            if (b != 0) {
                g -= b * FN(vector_weight)(q, w, c, qa, qb);
            }
            STORE(out + c, g);
        }
    }
    for (; c < classes; c++) {
        ACC g = a * SEXP(((ACC)x[c * stride] - n.max) - n.log_sum);
        if (b != 0) {
            g -= b * FN(element_weight)(q, w, c * stride, c, qa, qb);
        }
        out[c * stride] = (STORAGE)g;
    }
}

XENT_INLINE void FN(write_log_softmax)(const STORAGE *x, STORAGE *out, int64_t classes, int64_t stride, FN(norm) n) {
    int64_t c = 0;
    if (stride == 1) {
        for (; c + LANES <= classes; c += LANES) {
            STORE(out + c, (LOAD(x + c) - n.max) - n.log_sum);
        }
    }
    for (; c < classes; c++) {
        out[c * stride] = (STORAGE)(((ACC)x[c * stride] - n.max) - n.log_sum);
    }
}

/// The fused gradient of the LANES elements from c: a e_c - b v_c - [c == y] t. Every element takes
/// the same steps wherever its vector starts, so vectors that overlap agree. (Class indices compare
/// exactly as ACC: a row on this path has at most XENT_CACHED_ROW_BYTES / 4 classes.)
XENT_INLINE VEC FN(gradient_vector)(const ACC *scratch, const ACC *w, int64_t c, int64_t y, ACC a, ACC b, ACC t) {
    VEC e;
    memcpy(&e, scratch + c, sizeof e);
    VEC g = a * e;
    if (b != 0) {
        g -= b * FN(vector_weight)(NULL, w, c, 0, 0);
    }
    return IOTA + (ACC)c == (ACC)y ? g - t : g;
}

/// e = exp(x_c - m) for the LANES elements from `first` (all in the row) into `scratch + first`; those
/// in [from, to) are added to `*s` (and their deviation terms to `*d`, `*vs`). `masked` = 0 takes them
/// all (the caller's `from` and `to` span the vector).
XENT_INLINE void FN(exp_into_scratch)(const STORAGE *x, const ACC *w, ACC *scratch, int64_t first, int64_t from,
                                      int64_t to, ACC m, int smooth, int masked, VEC *s, VEC *d, VEC *vs) {
    const VEC xm = LOAD(x + first) - m;
    const VEC e = VEXP(xm);
    memcpy(scratch + first, &e, sizeof e);
    const VEC at = IOTA + (ACC)first;
    const VEC_MASK keep = masked ? at >= (ACC)from && at < (ACC)to : (VEC_MASK)-1;
    *s += keep ? e : (VEC)0;
    if (smooth) {
        const VEC v = FN(vector_weight)(NULL, w, first, 0, 0);
        *d += keep ? v * xm : (VEC)0;
        *vs += keep ? v : (VEC)0;
    }
}

/// Stores lanes [from, to) of `v`, lane i at `out + i`, one element at a time (a vector store would
/// touch the neighbouring cache line).
XENT_INLINE void FN(store_lanes)(STORAGE *out, VEC v, int64_t from, int64_t to) {
    ACC lanes[LANES];
    memcpy(lanes, &v, sizeof v);
#pragma clang loop vectorize(disable)
    for (int64_t lane = from; lane < to; lane++) {
        out[lane] = (STORAGE)lanes[lane];
    }
}

/// The bytes of scratch one fused gradient row takes: the row and the page offset
/// FN(fused_gradient_row) places it at, in whole pages.
XENT_INLINE size_t FN(scratch_row_bytes)(int64_t classes) {
    return ((size_t)classes * sizeof(ACC) + 2 * 4096 - 1) / 4096 * 4096;
}

/// A fused gradient row whose statistics are done and whose output is still to be written: it is
/// streamed out while the next row's exps are computed, so that the writes overlap that work.
typedef struct {
    STORAGE *out;       // NULL when no row is pending
    const ACC *scratch; // the row's e_c, at its offset in the scratch block
    int64_t y;
    ACC a, b, t;
} FN(pending_gradient);

/// The elements of `p`'s row that its streamed vectors leave at each end, from the vector there, with
/// plain stores (confined to the lines the streamed stores do not touch: a plain and a streamed store
/// to one line stall each other).
XENT_INLINE void FN(store_gradient_ends)(const FN(pending_gradient) * p, const ACC *w, int64_t classes) {
    const int64_t head = FN(to_line_boundary)(p->out);
    const int64_t body = head + (classes - head) / LANES * LANES;
    if (head > 0) {
        FN(store_lanes)(p->out, FN(gradient_vector)(p->scratch, w, 0, p->y, p->a, p->b, p->t), 0, head);
    }
    if (body < classes) {
        const VEC g = FN(gradient_vector)(p->scratch, w, classes - LANES, p->y, p->a, p->b, p->t);
        FN(store_lanes)(p->out + classes - LANES, g, body - (classes - LANES), LANES);
    }
}

/// Streams the vector of `p`'s gradient from element c (at a 64-byte boundary of `out`) past the cache.
XENT_INLINE void FN(stream_gradient_vector)(const FN(pending_gradient) * p, const ACC *w, int64_t c) {
    const VEC g = FN(gradient_vector)(p->scratch, w, c, p->y, p->a, p->b, p->t);
    __builtin_nontemporal_store(g, (VEC *)(void *)(p->out + c));
}

/// Writes `p`'s whole row, if one is pending, and leaves none pending.
XENT_INLINE void FN(flush_gradient)(FN(pending_gradient) * p, const ACC *w, int64_t classes) {
    if (!p->out) {
        return;
    }
    FN(store_gradient_ends)(p, w, classes);
    const int64_t head = FN(to_line_boundary)(p->out);
    const int64_t vectors = (classes - head) / LANES;
    for (int64_t k = 0; k < vectors; k++) {
        FN(stream_gradient_vector)(p, w, head + k * LANES);
    }
    p->out = NULL;
}

/// The exps of the row's vectors from `from` to `to` into `scratch`, summed, with the next row
/// prefetched; with `p`, the vectors of its gradient from element `streamFrom` on are streamed out
/// beside them, one per exp vector.
XENT_INLINE void FN(exp_span)(const STORAGE *x, const ACC *w, ACC *scratch, int64_t classes, int64_t from, int64_t to,
                              ACC m, int smooth, const FN(pending_gradient) * p, int64_t streamFrom, VEC *s, VEC *d,
                              VEC *vs) {
    for (int64_t c = from; c < to; c += LANES) {
        __builtin_prefetch(x + classes + c);  // the next row, while this loop computes
        __builtin_prefetch((const char *)(x + classes + c) + XENT_FAR_PREFETCH_BYTES, 0, 1);
        FN(exp_into_scratch)(x, w, scratch, c, c, c + LANES, m, smooth, 0, s, d, vs);
        if (p) {
            FN(stream_gradient_vector)(p, w, streamFrom + (c - from));
        }
    }
}

/// The exps of a row's whole vectors into `scratch`, summed, with the whole gradient of `p`, when one
/// is pending, streamed out beside them. The gradient's vectors start half its vectors, or 2 KiB, from
/// the exps', so that its stores and the exps' loads and stores fall at different page offsets (the
/// rows of a batch often lie whole pages apart, and an access at a recent store's page offset waits
/// on it).
XENT_INLINE void FN(exp_row_body)(const STORAGE *x, const ACC *w, ACC *scratch, int64_t classes, ACC m, int smooth,
                                  const FN(pending_gradient) * p, VEC *s, VEC *d, VEC *vs) {
    const int64_t body = classes / LANES * LANES;
    if (!p) {
        FN(exp_span)(x, w, scratch, classes, 0, body, m, smooth, NULL, 0, s, d, vs);
        return;
    }
    const int64_t head = FN(to_line_boundary)(p->out);
    // At most body / LANES: the streamed vectors skip the elements before `head`.
    const int64_t vectors = (classes - head) / LANES;
    const int64_t limit = 2048 / (int64_t)sizeof(VEC);
    const int64_t shift = vectors / 2 < limit ? vectors / 2 : limit;
    const int64_t wrap = (vectors - shift) * LANES;
    FN(exp_span)(x, w, scratch, classes, 0, wrap, m, smooth, p, head + shift * LANES, s, d, vs);
    FN(exp_span)(x, w, scratch, classes, wrap, vectors * LANES, m, smooth, p, head, s, d, vs);
    FN(exp_span)(x, w, scratch, classes, vectors * LANES, body, m, smooth, NULL, 0, s, d, vs);
}

/// The statistics of a contiguous row that fits in cache, with a class-index target y, for its loss
/// gradient: its maximum, then e_c = exp(x_c - max) computed once into its half of `scratchBlock`
/// while summing (with the smoothing terms when `smooth`, a constant after inlining). Its gradient
/// out_c = a e_c / s - b v_c - [c == y] t is left pending in `*p`, to be streamed to memory past the
/// cache (no read of `out` first) while the next fused row's exps are computed, or by
/// FN(flush_gradient); the row pending before is written here. One exp per element and one write of
/// `out`. `out` may be `x` (in place): x_y is read first, and a row's gradient is written once its
/// logits are no longer read. The exps are stored in whole 64-byte lines of scratch, and the streamed
/// stores start at the first 64-byte boundary of `out`, so that neither splits a store across two
/// cache lines when `out` is not aligned, as a Swift array's elements never are.
/// Returns 0, having written and changed nothing, for a row without a finite maximum (the general
/// path's case).
XENT_INLINE int FN(fused_gradient_row)(const xent_rows *rows, const STORAGE *x, STORAGE *out, int64_t y, ACC scale,
                                       int smooth, ACC *scratchBlock, FN(pending_gradient) * p, xent_row_stat *stat) {
    const int64_t classes = rows->classes;
    const ACC *w = (const ACC *)rows->weight;
    const ACC eps = (ACC)rows->label_smoothing;
    // Two rows of scratch, this row's and the pending row's. A row's scratch starts at the 64-byte
    // boundary at or below 2 KiB from `out` modulo 4 KiB: never at the same page offset as the
    // gradient being written (whose stores would then look like they feed the loads).
    const size_t half = FN(scratch_row_bytes)(classes);
    char *base = (char *)scratchBlock;
    if (p->out && (const char *)p->scratch < base + half) {
        base += half;
    }
    ACC *scratch = (ACC *)(void *)(base + ((((uintptr_t)out + 2048) & 4095) & ~(uintptr_t)63));
    // The first and last lines of `out` take plain stores unless aligned: fetch them for writing now,
    // so that those stores do not wait on memory.
    __builtin_prefetch(out, 1);
    __builtin_prefetch(out + classes - 1, 1);
    const ACC m = FN(row_max)(x, classes);
    if (!(m > -INFINITY && m < INFINITY)) {
        return 0;
    }
    const ACC target = (ACC)x[y];
    // Whole vectors from the row's start, then the last LANES elements for what they leave (their exps
    // are stored whole: the elements they share with the last whole vector get the same values). The
    // order of the sums depends on the class count alone, not on where the row lies.
    VEC s = (VEC)0, d = (VEC)0, vs = (VEC)0;
    const int64_t body = classes / LANES * LANES;
    if (body < classes) {
        FN(exp_into_scratch)(x, w, scratch, classes - LANES, body, classes, m, smooth, 1, &s, &d, &vs);
    }
    if (p->out) {
        FN(store_gradient_ends)(p, w, classes);
        FN(exp_row_body)(x, w, scratch, classes, m, smooth, p, &s, &d, &vs);
    } else {
        FN(exp_row_body)(x, w, scratch, classes, m, smooth, NULL, &s, &d, &vs);
    }
    const ACC sum = HSUM(s), dev = smooth ? HSUM(d) : 0, mass = smooth ? HSUM(vs) : 0;
    const ACC logSum = SLOG(sum);
    stat->lse = (double)m + (double)logSum;
    stat->max = m;
    stat->log_sum = logSum;
    stat->target_logit = (double)target;
    stat->smooth = smooth ? (double)(mass * logSum - dev) : 0;
    stat->mass = smooth ? (double)mass : 0;
    const ACC wy = w ? w[y] : (ACC)1;
    p->out = out;
    p->scratch = scratch;
    p->y = y;
    p->b = scale * eps / (ACC)classes;
    p->a = scale * ((1 - eps) * wy + eps * (ACC)rows->weight_total / (ACC)classes) / sum;
    p->t = scale * (1 - eps) * wy;
    return 1;
}

/// Two rows of scratch for the fused gradient path, or NULL when these rows and outputs do not take it
/// (only float and double gradients of contiguous rows of at least LANES classes with class-index
/// targets that fit in cache).
XENT_INLINE ACC *FN(fused_scratch)(const xent_rows *rows, const xent_outputs *outputs) {
    const int64_t classes = rows->classes;
    if (outputs->kind == XENT_OUTPUT_GRADIENT && !rows->probabilities && rows->inner == 1 && classes >= LANES &&
        sizeof(STORAGE) == sizeof(ACC) && classes * (int64_t)sizeof(STORAGE) <= XENT_CACHED_ROW_BYTES) {
        return (ACC *)aligned_alloc(4096, 2 * FN(scratch_row_bytes)(classes));
    }
    return NULL;
}

/// Statistics and outputs of rows [begin, end); `scratch` from FN(fused_scratch).
XENT_INLINE void FN(outputs)(const xent_rows *rows, const xent_outputs *outputs, ACC *scratch, int64_t begin,
                             int64_t end, xent_stat_block *block) {
    const int64_t classes = rows->classes, inner = rows->inner;
    const ACC *w = (const ACC *)rows->weight;
    const ACC eps = (ACC)rows->label_smoothing;
    const ACC qa = 1 - eps, qb = classes > 0 ? eps / (ACC)classes : 0;
    const int fusable = scratch != NULL;
    // A fused row's gradient waits for the next fused row; rows of the general path in between write
    // their own rows and leave it pending.
    FN(pending_gradient) pending = {NULL, NULL, 0, 0, 0, 0};
    for (int64_t row = begin; row < end; row++) {
        const int64_t base = FN(row_base)(row, classes, inner);
        const STORAGE *x = (const STORAGE *)rows->logits + base;
        STORAGE *out = (STORAGE *)outputs->destination + base;
        if (fusable) {
            const int64_t y = rows->targets[row];
            const ACC scale = (ACC)(outputs->gradient_scale * (outputs->row_upstream ? outputs->row_upstream[row] : 1.0));
            xent_row_stat stat;
            // Without smoothing terms (the usual case) the exp loops are compiled without their sums.
            if (y != rows->ignore_index && y >= 0 && y < classes &&
                (rows->accumulate_smooth ? FN(fused_gradient_row)(rows, x, out, y, scale, 1, scratch, &pending, &stat)
                                         : FN(fused_gradient_row)(rows, x, out, y, scale, 0, scratch, &pending, &stat))) {
                store_stat(block, row - begin, stat);
                if (classes * (int64_t)sizeof(STORAGE) < XENT_PIPELINED_ROW_BYTES) {
                    FN(flush_gradient)(&pending, w, classes);
                }
                continue;
            }
        }
        FN(norm) n;
        const xent_row_stat stat = FN(row_stat)(rows, row, &n);
        store_stat(block, row - begin, stat);
        switch (outputs->kind) {
        case XENT_OUTPUT_LOG_SOFTMAX:
            FN(write_log_softmax)(x, out, classes, inner, n);
            break;
        case XENT_OUTPUT_SOFTMAX:
            FN(write_scaled_softmax)(x, NULL, NULL, out, classes, inner, n, 1, 0, 0, 0);
            break;
        case XENT_OUTPUT_GRADIENT: {
            const ACC scale = (ACC)(outputs->gradient_scale * (outputs->row_upstream ? outputs->row_upstream[row] : 1.0));
            if (rows->probabilities) {
                const STORAGE *q = (const STORAGE *)rows->probabilities + base;
                FN(write_scaled_softmax)(x, q, w, out, classes, inner, n, scale * (ACC)stat.mass, scale, qa, qb);
                break;
            }
            const int64_t y = rows->targets[row];
            if (y == rows->ignore_index || y < 0 || y >= classes) {
                for (int64_t c = 0; c < classes; c++) {
                    out[c * inner] = (STORAGE)0;
                }
                break;
            }
            const ACC wy = w ? w[y] : (ACC)1;
            const ACC b = scale * eps / (ACC)classes;
            const ACC a = scale * ((1 - eps) * wy + eps * (ACC)rows->weight_total / (ACC)classes);
            FN(write_scaled_softmax)(x, NULL, w, out, classes, inner, n, a, b, 0, 0);
            const ACC target = (ACC)stat.target_logit;
            out[y * inner] = (STORAGE)(a * SEXP((target - n.max) - n.log_sum) - b * wy - scale * (1 - eps) * wy);
            break;
        }
        }
    }
    FN(flush_gradient)(&pending, w, classes);
}

/// Rows [begin, end) in blocks whose statistics stay in L1, each folded into `results` as it is done.
XENT_INLINE double FN(run)(const xent_rows *rows, const xent_outputs *outputs, const xent_row_results *results,
                           int64_t begin, int64_t end) {
    xent_stat_block block;
    ACC *scratch = outputs ? FN(fused_scratch)(rows, outputs) : NULL;
    xent_fold fold = {0, 0};
    for (int64_t first = begin; first < end; first += XENT_FOLD_ROWS) {
        const int64_t last = end - first > XENT_FOLD_ROWS ? first + XENT_FOLD_ROWS : end;
        if (outputs) {
            FN(outputs)(rows, outputs, scratch, first, last, &block);
        } else {
            FN(statistics)(rows, first, last, &block);
        }
        fold_block(&fold, results, first, &block, last - first);
    }
    free(scratch);
#if defined(__x86_64__)
    if (outputs) {
        __builtin_ia32_sfence();  // order the streamed stores before the caller reads the outputs
    }
#endif
    return fold_total(fold);
}

#undef FN
#undef XENT_CAT
#undef XENT_CAT_
