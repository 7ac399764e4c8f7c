// The row kernels for one storage type, included once per dtype by CPURowKernels.c with:
//   SUFFIX       name suffix (f16, f32, f64)
//   STORAGE      element type in memory
//   ACC, VEC     accumulation scalar and its vector (LANES lanes)
//   LOAD, STORE  vector load/store from/to STORAGE
//   VEXP, VMAX   vector exp and max
//   SEXP, SLOG   scalar exp and log of ACC
//   LOWEST       the most negative finite ACC: the running max starts there, so -inf lanes give no NaN

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
    // Merge the lanes, then take the tail one element at a time.
    FN(state) st = {m[0], s[0], d[0], vs[0]};
    for (int lane = 1; lane < LANES; lane++) {
        ACC mn = m[lane] > st.m ? m[lane] : st.m;
        st.s = st.s * SEXP(st.m - mn) + s[lane] * SEXP(m[lane] - mn);
        if (smooth) {
            st.d += st.v * (st.m - mn) + d[lane] + vs[lane] * (m[lane] - mn);
            st.v += vs[lane];
        }
        st.m = mn;
    }
    for (; c < classes; c++) {
        FN(push)(&st, (ACC)x[c], smooth ? FN(element_weight)(q, w, c, c, qa, qb) : (ACC)0, smooth);
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

/// One row's statistics; `*lse` receives the row's logsumexp in the accumulation type.
XENT_INLINE xent_row_stat FN(row_stat)(const xent_rows *rows, int64_t row, ACC *lse) {
    const int64_t classes = rows->classes, inner = rows->inner;
    const int64_t base = (row / inner) * classes * inner + row % inner;
    const STORAGE *x = (const STORAGE *)rows->logits + base;
    const STORAGE *q = rows->probabilities ? (const STORAGE *)rows->probabilities + base : NULL;
    const ACC *w = (const ACC *)rows->weight;
    const ACC eps = (ACC)rows->label_smoothing;
    const ACC qa = 1 - eps, qb = classes > 0 ? eps / (ACC)classes : 0;
    const int smooth = rows->accumulate_smooth != 0;
    FN(state) st;
    if (inner != 1) {
        st = FN(scan_strided)(x, q, w, classes, inner, smooth, qa, qb);
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
    *lse = st.m + logSum;
    xent_row_stat stat = {(double)*lse, 0, 0, 0};
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

XENT_INLINE void FN(statistics)(const xent_rows *rows, int64_t begin, int64_t end, xent_row_stat *stats) {
    for (int64_t row = begin; row < end; row++) {
        ACC lse;
        stats[row - begin] = FN(row_stat)(rows, row, &lse);
    }
}

/// out_c = a * exp(x_c - lse) - b * v_c: the softmax (a = 1, b = 0) and every gradient; the target's
/// extra term is applied by the caller.
XENT_INLINE void FN(write_scaled_softmax)(const STORAGE *x, const STORAGE *q, const ACC *w, STORAGE *out,
                                          int64_t classes, int64_t stride, ACC lse, ACC a, ACC b, ACC qa, ACC qb) {
    int64_t c = 0;
    if (stride == 1) {
        for (; c + LANES <= classes; c += LANES) {
            VEC g = a * VEXP(LOAD(x + c) - lse);
            if (b != 0) {
                g -= b * FN(vector_weight)(q, w, c, qa, qb);
            }
            STORE(out + c, g);
        }
    }
    for (; c < classes; c++) {
        ACC g = a * SEXP((ACC)x[c * stride] - lse);
        if (b != 0) {
            g -= b * FN(element_weight)(q, w, c * stride, c, qa, qb);
        }
        out[c * stride] = (STORAGE)g;
    }
}

XENT_INLINE void FN(write_log_softmax)(const STORAGE *x, STORAGE *out, int64_t classes, int64_t stride, ACC lse) {
    int64_t c = 0;
    if (stride == 1) {
        for (; c + LANES <= classes; c += LANES) {
            STORE(out + c, LOAD(x + c) - lse);
        }
    }
    for (; c < classes; c++) {
        out[c * stride] = (STORAGE)((ACC)x[c * stride] - lse);
    }
}

XENT_INLINE void FN(outputs)(const xent_rows *rows, const xent_outputs *outputs, int64_t begin, int64_t end,
                        xent_row_stat *stats) {
    const int64_t classes = rows->classes, inner = rows->inner;
    const ACC *w = (const ACC *)rows->weight;
    const ACC eps = (ACC)rows->label_smoothing;
    const ACC qa = 1 - eps, qb = classes > 0 ? eps / (ACC)classes : 0;
    for (int64_t row = begin; row < end; row++) {
        ACC lse;
        const xent_row_stat stat = FN(row_stat)(rows, row, &lse);
        stats[row - begin] = stat;
        const int64_t base = (row / inner) * classes * inner + row % inner;
        const STORAGE *x = (const STORAGE *)rows->logits + base;
        STORAGE *out = (STORAGE *)outputs->destination + base;
        switch (outputs->kind) {
        case XENT_OUTPUT_LOG_SOFTMAX:
            FN(write_log_softmax)(x, out, classes, inner, lse);
            break;
        case XENT_OUTPUT_SOFTMAX:
            FN(write_scaled_softmax)(x, NULL, NULL, out, classes, inner, lse, 1, 0, 0, 0);
            break;
        case XENT_OUTPUT_GRADIENT: {
            const ACC scale = (ACC)(outputs->gradient_scale * (outputs->row_upstream ? outputs->row_upstream[row] : 1.0));
            if (rows->probabilities) {
                const STORAGE *q = (const STORAGE *)rows->probabilities + base;
                FN(write_scaled_softmax)(x, q, w, out, classes, inner, lse, scale * (ACC)stat.mass, scale, qa, qb);
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
            FN(write_scaled_softmax)(x, NULL, w, out, classes, inner, lse, a, b, 0, 0);
            const ACC target = (ACC)stat.target_logit;
            out[y * inner] = (STORAGE)(a * SEXP(target - lse) - b * wy - scale * (1 - eps) * wy);
            break;
        }
        }
    }
}

#undef FN
#undef XENT_CAT
#undef XENT_CAT_
