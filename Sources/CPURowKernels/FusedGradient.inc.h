// Part of the row-kernel template RowKernel.inc.h (see its parameters there): the fused loss gradient
// (XENT_PATH_FUSED_GRADIENT and XENT_PATH_PIPELINED_GRADIENT): each exp computed once into scratch while
// summing, the gradient streamed out of it past the cache, and for long rows written while the next
// row's exps are computed.

/// The fused gradient of the LANES elements from c: a e_c - b v_c - [c == y] t. Every element takes
/// the same steps wherever its vector starts, so vectors that overlap agree. (Class indices compare
/// exactly as ACC: a row on this path has at most XENT_CACHED_ROW_BYTES / 2 classes.)
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
XENT_INLINE void FN(store_lanes)(OUT *out, VEC v, int64_t from, int64_t to) {
    ACC lanes[LANES];
    memcpy(lanes, &v, sizeof v);
#pragma clang loop vectorize(disable)
    for (int64_t lane = from; lane < to; lane++) {
        out[lane] = NARROW(lanes[lane]);
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
    OUT *out;           // NULL when no row is pending
    int stream;         // stores past the cache (else plain: see xent_outputs.cached)
    const ACC *scratch; // the row's e_c, at its offset in the scratch block
    int64_t y;
    ACC a, b, t;
} FN(pending_gradient);

/// The first element of `p`'s row at a 64-byte boundary of `out`, where its streamed vectors start.
XENT_INLINE int64_t FN(stream_head)(const OUT *out, int64_t classes) {
    const int64_t head = xent_to_line_boundary(out, sizeof(OUT));
    return head < classes ? head : classes;
}

/// The vectors of a row's gradient streamed from `head`: those of whole 64-byte lines of `out` (a
/// vector of a 2-byte OUT is half a line).
XENT_INLINE int64_t FN(streamed_vectors)(int64_t classes, int64_t head) {
    const int64_t line = 64 / (int64_t)sizeof(OUT);
    return (classes - head) / line * line / LANES;
}

/// Elements [from, to) of `p`'s gradient, with plain stores, from the vectors that hold them (the
/// last LANES elements for the end of the row).
XENT_INLINE void FN(store_gradient_span)(const FN(pending_gradient) * p, const ACC *w, int64_t classes, int64_t from,
                                         int64_t to) {
    for (int64_t c = from; c < to;) {
        const int64_t start = c + LANES <= classes ? c : classes - LANES;
        const int64_t stop = start + LANES < to ? start + LANES : to;
        FN(store_lanes)(p->out + start, FN(gradient_vector)(p->scratch, w, start, p->y, p->a, p->b, p->t), c - start,
                        stop - start);
        c = stop;
    }
}

/// The elements of `p`'s row that its streamed vectors leave at each end, with plain stores (confined
/// to the lines the streamed stores do not touch: a plain and a streamed store to one line stall each
/// other).
XENT_INLINE void FN(store_gradient_ends)(const FN(pending_gradient) * p, const ACC *w, int64_t classes) {
    const int64_t head = FN(stream_head)(p->out, classes);
    FN(store_gradient_span)(p, w, classes, 0, head);
    FN(store_gradient_span)(p, w, classes, head + FN(streamed_vectors)(classes, head) * LANES, classes);
}

/// Streams the vector of `p`'s gradient from element c (at a 64-byte boundary of `out`, or half a line
/// after one for a 2-byte OUT) past the cache
/// (or stores it plainly, when `p` says so).
XENT_INLINE void FN(stream_gradient_vector)(const FN(pending_gradient) * p, const ACC *w, int64_t c) {
    const VEC g = FN(gradient_vector)(p->scratch, w, c, p->y, p->a, p->b, p->t);
    if (p->stream) {
        STREAM(p->out + c, g);
    } else {
        STORE(p->out + c, g);
    }
}

/// Writes `p`'s whole row, if one is pending, and leaves none pending.
XENT_INLINE void FN(flush_gradient)(FN(pending_gradient) * p, const ACC *w, int64_t classes) {
    if (!p->out) {
        return;
    }
    FN(store_gradient_ends)(p, w, classes);
    const int64_t head = FN(stream_head)(p->out, classes);
    const int64_t vectors = FN(streamed_vectors)(classes, head);
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
    const int64_t head = FN(stream_head)(p->out, classes);
    // At most body / LANES: the streamed vectors skip the elements before `head`.
    const int64_t vectors = FN(streamed_vectors)(classes, head);
    const int64_t limit = 2048 / (LANES * (int64_t)sizeof(OUT));
    const int64_t shift = vectors / 2 < limit ? vectors / 2 : limit;
    const int64_t wrap = (vectors - shift) * LANES;
    FN(exp_span)(x, w, scratch, classes, 0, wrap, m, smooth, p, head + shift * LANES, s, d, vs);
    FN(exp_span)(x, w, scratch, classes, wrap, vectors * LANES, m, smooth, p, head, s, d, vs);
    FN(exp_span)(x, w, scratch, classes, vectors * LANES, body, m, smooth, NULL, 0, s, d, vs);
}

/// The statistics of a contiguous row with class-index target y (or none here: any y outside
/// [0, classes)) from one read of it: its maximum, then e_c = exp(x_c - max) computed once into
/// `scratch` while summing (with the smoothing terms when `smooth`, a constant after inlining). The
/// gradient pending in `*p`, if any, is streamed out beside the exps (see FN(exp_row_body)) and left
/// written, though still described by `*p`. Returns the sum of the exps, or 0 having written and changed
/// nothing for a row without a finite maximum (the general path's case).
XENT_INLINE ACC FN(exps_with_statistics)(const xent_rows *rows, const STORAGE *x, int64_t y, int smooth, ACC *scratch,
                                         const FN(pending_gradient) * p, xent_row_stat *stat) {
    const int64_t classes = rows->options.classes;
    const ACC *w = (const ACC *)rows->weight;
    const ACC m = FN(row_max)(x, classes);
    if (!(m > -INFINITY && m < INFINITY)) {
        return 0;
    }
    const ACC target = y >= 0 && y < classes ? WIDEN(x[y]) : 0;
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
    return sum;
}

/// The statistics of a contiguous row that fits in cache, with a class-index target y, for its loss
/// gradient: FN(exps_with_statistics) into its half of `scratchBlock`. Its gradient
/// out_c = a e_c / s - b v_c - [c == y] t is left pending in `*p`, to be streamed to memory past the
/// cache (no read of `out` first) while the next fused row's exps are computed, or by
/// FN(flush_gradient); the row pending before is written here. One exp per element and one write of
/// `out`. `out` may be `x` (in place): x_y is read first, and a row's gradient is written once its
/// logits are no longer read. The exps are stored in whole 64-byte lines of scratch, and the streamed
/// stores start at the first 64-byte boundary of `out`, so that neither splits a store across two
/// cache lines when `out` is not aligned, as a Swift array's elements never are.
/// Returns 0, having written and changed nothing, for a row without a finite maximum.
XENT_INLINE int FN(fused_gradient_row)(const xent_rows *rows, const STORAGE *x, OUT *out, int64_t y,
                                       FN(gradient_scales) scales,
                                       int smooth, ACC *scratchBlock, FN(pending_gradient) * p, xent_row_stat *stat) {
    const int64_t classes = rows->options.classes;
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
    const ACC sum = FN(exps_with_statistics)(rows, x, y, smooth, scratch, p, stat);
    if (sum == 0) {
        return 0;
    }
    const FN(gradient_coefficients) k = FN(class_index_gradient)(rows, y, scales, (ACC)stat->max + (ACC)stat->log_sum);
    p->out = out;
    p->scratch = scratch;
    p->y = y;
    p->b = k.b;
    p->a = k.a / sum;  // e_c = exp(x_c - max) = exp(x_c - lse) * sum
    p->t = k.t;
    return 1;
}

/// Row `row`'s statistics, its exps kept (xent_rows.kept), with class-index targets: one read of the
/// row and one exp per element, as the fused gradient's, with the gradient of the pending row beside it
/// (xent_rows.pending) streamed out past the cache meanwhile. (Its class indices compare as ACC:
/// FN(statistics) sends no row of 2^24 classes or more this way.)
XENT_INLINE xent_row_stat FN(kept_row_stat)(const xent_rows *rows, int64_t row) {
    const int64_t classes = rows->options.classes;
    const ACC *w = (const ACC *)rows->weight;
    const xent_pending_gradient *pending = rows->pending;
    FN(pending_gradient) p = {NULL, 1, NULL, 0, 0, 0, 0};
    if (pending && row < pending->rows) {
        const double *given = pending->given + row * XENT_GIVEN_COUNT;
        p.out = (OUT *)pending->destination + row * classes;
        p.scratch = (const ACC *)pending->kept + row * classes;
        p.y = pending->targets[row];
        // e_c * exp(-log_sum) is the softmax: XENT_GIVEN_MAX is the maximum the exps are relative to.
        p.a = (ACC)(given[XENT_GIVEN_A] * exp(-given[XENT_GIVEN_LOG_SUM]));
        p.b = (ACC)given[XENT_GIVEN_B];
        p.t = (ACC)given[XENT_GIVEN_T];
    }
    const STORAGE *x = (const STORAGE *)rows->logits + row * classes;
    ACC *kept = (ACC *)rows->kept + row * classes;
    const int64_t y = rows->targets[row];
    xent_row_stat stat;
    FN(norm) n = {0, 0};
    if (classes < LANES) {
        // Rows shorter than a vector: the pending row element by element, this row's exps as the
        // statistics' (their sums in another order).
        if (p.out) {
            FN(stream_given_gradient)(NULL, FN(softmax_source_of)(p.scratch, n), w, p.out, classes, n, p.a, p.b, p.t, p.y);
        }
        return FN(row_stat)(rows, row, &n);
    }
    if ((rows->options.flags & XENT_ACCUMULATE_SMOOTH) ? FN(exps_with_statistics)(rows, x, y, 1, kept, &p, &stat)
                                                      : FN(exps_with_statistics)(rows, x, y, 0, kept, &p, &stat)) {
        return stat;
    }
    FN(flush_gradient)(&p, w, classes);
    return FN(row_stat)(rows, row, &n);
}

/// The gradient path of these rows and outputs (see xent_gradient_path).
XENT_INLINE xent_row_path FN(gradient_path)(const xent_rows *rows) {
    return xent_gradient_path(rows->options.classes, rows->options.inner, (int64_t)sizeof(STORAGE), LANES,
                              rows->targets && !rows->probabilities, (rows->options.flags & XENT_ACCUMULATE_SMOOTH) != 0, XENT_C_FUSES);
}

/// Two rows of scratch for the fused gradient paths, or NULL when these rows and outputs take neither.
XENT_INLINE ACC *FN(fused_scratch)(const xent_rows *rows, const xent_outputs *outputs) {
    if (rows->options.kind != XENT_OUTPUT_GRADIENT || rows->given) {
        return NULL;
    }
    const xent_row_path path = FN(gradient_path)(rows);
    if (path == XENT_PATH_FUSED_GRADIENT || path == XENT_PATH_PIPELINED_GRADIENT) {
        return (ACC *)aligned_alloc(4096, 2 * FN(scratch_row_bytes)(rows->options.classes));
    }
    return NULL;
}
