// Part of the row-kernel template RowKernel.inc.h (see its parameters there): a row's statistics one
// row at a time. The online (max, sum) state and its scans (two passes over a row that fits in cache,
// one vectorised online pass over a longer row, one strided pass over a K-dimensional row), and the
// statistics they give.

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
    return q ? v * (qa * WIDEN(q[index]) + qb) : v;
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
        memset(xs, 0, sizeof xs);
        memset(qs, 0, sizeof qs);
        memcpy(xs, x + c, (size_t)rest * sizeof(STORAGE));
        if (q) {
            memcpy(qs, q + c, (size_t)rest * sizeof(STORAGE));
        }
        for (int lane = 0; lane < LANES; lane++) {
            ws[lane] = lane < rest ? (w ? w[c + lane] : (ACC)1) : (ACC)0;
        }
        VEC x0 = IOTA < (ACC)rest ? LOAD(xs) : (VEC)-INFINITY;
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
    return xent_to_line_boundary(p, sizeof(STORAGE));
}

/// The maximum of a contiguous row, NaN skipped (-inf for a row of -inf or of no classes): element by
/// element up to the first 64-byte boundary, then aligned vectors, then the rest. (A maximum is exact
/// in any order, so where the row lies changes nothing.)
XENT_INLINE ACC FN(row_max)(const STORAGE *x, int64_t classes) {
    const int64_t toBoundary = FN(to_line_boundary)(x);
    const int64_t head = toBoundary < classes ? toBoundary : classes;
    ACC m = -INFINITY;
    for (int64_t c = 0; c < head; c++) {
        m = WIDEN(x[c]) > m ? WIDEN(x[c]) : m;
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
        m = WIDEN(x[c]) > m ? WIDEN(x[c]) : m;
    }
    return m;
}

/// Scans a contiguous row that fits in the core's L2 cache in two passes: its maximum M from memory,
/// then sum exp(x - M) (and the deviation terms) from cache. One exp per element and no rescaling.
/// A NaN anywhere reaches the sum; a row of -inf (or empty) gets s = 0, so its logsumexp is -inf, as
/// PyTorch's. With `keep` (a constant NULL folds away), each exp(x_c - M) is stored at `keep + c`
/// (see xent_rows.kept; meaningless for a row without a finite maximum).
XENT_INLINE FN(state) FN(scan_two_pass)(const STORAGE *x, const STORAGE *q, const ACC *w, int64_t classes,
                                      int smooth, ACC qa, ACC qb, ACC *keep) {
    const ACC m = FN(row_max)(x, classes);
    VEC s = (VEC)0, d = (VEC)0, vs = (VEC)0;
    int64_t c = 0;
    if (!smooth && keep) {
        VEC s1 = (VEC)0;
        for (; c + 2 * LANES <= classes; c += 2 * LANES) {
            __builtin_prefetch(x + classes + c);
            __builtin_prefetch((const char *)(x + classes + c) + XENT_FAR_PREFETCH_BYTES, 0, 1);
            const VEC e0 = VEXP(LOAD(x + c) - m), e1 = VEXP(LOAD(x + c + LANES) - m);
            memcpy(keep + c, &e0, sizeof e0);
            memcpy(keep + c + LANES, &e1, sizeof e1);
            s += e0;
            s1 += e1;
        }
        s += s1;
    } else if (!smooth) {
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
        if (keep) {
            const VEC e = VEXP(xm);
            memcpy(keep + c, &e, sizeof e);
            s += e;
        } else {
            s += VEXP_SUM(xm);
        }
        if (smooth) {
            VEC v = FN(vector_weight)(q, w, c, qa, qb);
            d += v * xm;
            vs += v;
        }
    }
    FN(state) st = {m, HSUM(s), smooth ? HSUM(d) : 0, smooth ? HSUM(vs) : 0};
    for (; c < classes; c++) {
        const ACC xm = WIDEN(x[c]) - m;
        const ACC e = SEXP(xm);
        if (keep) {
            keep[c] = e;
        }
        st.s += e;
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
            st.s += isnan(WIDEN(x[c])) ? (ACC)NAN : 0;
        }
    }
    return st;
}

XENT_INLINE FN(state) FN(scan_strided)(const STORAGE *x, const STORAGE *q, const ACC *w, int64_t classes,
                                     int64_t stride, int smooth, ACC qa, ACC qb) {
    FN(state) st = {LOWEST, 0, 0, 0};
    for (int64_t c = 0; c < classes; c++) {
        FN(push)(&st, WIDEN(x[c * stride]), smooth ? FN(element_weight)(q, w, c * stride, c, qa, qb) : (ACC)0, smooth);
    }
    return st;
}

/// The row's logsumexp as torch.logsumexp gives it: +inf for a row holding +inf and no NaN (where the
/// sum itself is NaN), else max + log_sum.
XENT_INLINE double FN(torch_lse)(const STORAGE *x, int64_t classes, int64_t stride, ACC m, ACC logSum) {
    if (m == INFINITY) {
        for (int64_t c = 0; c < classes; c++) {
            if (isnan(WIDEN(x[c * stride]))) {
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
    const int64_t classes = rows->options.classes, inner = rows->options.inner;
    const int64_t base = FN(row_base)(row, classes, inner);
    const STORAGE *x = (const STORAGE *)rows->logits + base;
    const STORAGE *q = rows->probabilities ? (const STORAGE *)rows->probabilities + base : NULL;
    const ACC *w = (const ACC *)rows->weight;
    const ACC eps = (ACC)rows->options.label_smoothing;
    const int64_t smoothing_classes = rows->options.smoothing_classes;
    const ACC qa = 1 - eps, qb = smoothing_classes > 0 ? eps / (ACC)smoothing_classes : 0;
    const int smooth = (rows->options.flags & XENT_ACCUMULATE_SMOOTH) != 0;
    FN(state) st;
    // A row of few classes outside a whole block of LANES rows takes the two passes, as does a row whose
    // exps are kept (contiguous), however long.
    const xent_row_path path = xent_statistics_path(classes, inner, (int64_t)sizeof(STORAGE), smooth);
    ACC *keep = rows->kept ? (ACC *)rows->kept + row * classes : NULL;
    if (keep) {
        st = smooth ? FN(scan_two_pass)(x, q, w, classes, 1, qa, qb, keep)
                    : FN(scan_two_pass)(x, NULL, NULL, classes, 0, 0, 0, keep);
    } else if (path == XENT_PATH_STRIDED) {
        st = FN(scan_strided)(x, q, w, classes, inner, smooth, qa, qb);
    } else if (path != XENT_PATH_LONG_ROW) {
        if (!smooth) {
            st = FN(scan_two_pass)(x, NULL, NULL, classes, 0, 0, 0, NULL);
        } else if (!q && !w) {
            st = FN(scan_two_pass)(x, NULL, NULL, classes, 1, 0, 0, NULL);
        } else if (!q) {
            st = FN(scan_two_pass)(x, NULL, w, classes, 1, 0, 0, NULL);
        } else {
            st = FN(scan_two_pass)(x, q, w, classes, 1, qa, qb, NULL);
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
            stat.target_logit = (double)WIDEN(x[y * inner]);
        }
    }
    return stat;
}
