// Part of the row-kernel template RowKernel.inc.h (see its parameters there): what the second pass over
// a row writes from its statistics (log-softmax, softmax, the loss gradient), and the gradient's
// coefficients, which every gradient path takes from here.

/// The coefficients of a row's loss gradient, out_c = a exp(x_c - lse) - b v_c - [c == y] t: the
/// derivative of the row loss of RowFold.h (class_index_losses), times the row's scale, plus that of
/// its z-loss z lse^2, 2 z lse softmax_c, times the z-loss's scale.
typedef struct {
    ACC a, b, t;
} FN(gradient_coefficients);

/// The factors row `row`'s gradient is scaled by: `loss` for the cross-entropy's terms, `z` for the
/// z-loss's (2 z times the z-loss's own reduction factor), each times the row's upstream value if any.
typedef struct {
    ACC loss, z;
} FN(gradient_scales);

XENT_INLINE FN(gradient_scales) FN(row_gradient_scales)(const xent_rows *rows, const xent_outputs *outputs,
                                                        int64_t row) {
    const double upstream = outputs->row_upstream ? outputs->row_upstream[row] : 1.0;
    const FN(gradient_scales) scales = {(ACC)(rows->options.gradient_scale * upstream),
                                        (ACC)(rows->options.z_gradient_scale * upstream)};
    return scales;
}

/// The z-loss's part of `a`: z lse, and nothing without a z-loss (so that a row whose logsumexp is not
/// finite keeps the gradient it has without one).
XENT_INLINE ACC FN(z_loss_term)(FN(gradient_scales) scales, ACC lse) { return scales.z != 0 ? scales.z * lse : 0; }

/// The coefficients for class-index target y (valid, not ignored): with eps the label smoothing, w the
/// weights (all ones without) and W their total, a = (1 - eps) w_y + eps W / C, b = eps / C (v_c = w_c)
/// and t = (1 - eps) w_y.
XENT_INLINE FN(gradient_coefficients) FN(class_index_gradient)(const xent_rows *rows, int64_t y,
                                                               FN(gradient_scales) scales, ACC lse) {
    const ACC *w = (const ACC *)rows->weight;
    const ACC eps = (ACC)rows->options.label_smoothing;
    const ACC wy = w ? w[y] : (ACC)1;
    const ACC classes = (ACC)rows->options.smoothing_classes;
    const ACC scale = scales.loss;
    const FN(gradient_coefficients) k = {
        scale * ((1 - eps) * wy + eps * (ACC)rows->options.weight_total / classes) + FN(z_loss_term)(scales, lse),
        scale * eps / classes, scale * (1 - eps) * wy};
    return k;
}

/// The coefficients for probability targets: a = mass, b = 1 (v_c = w_c ((1 - eps) q_c + eps / C)), no t.
XENT_INLINE FN(gradient_coefficients) FN(probability_gradient)(ACC mass, FN(gradient_scales) scales, ACC lse) {
    const FN(gradient_coefficients) k = {scales.loss * mass + FN(z_loss_term)(scales, lse), scales.loss, 0};
    return k;
}

/// The exps of a row that a given gradient is written from: the logits' own, exp((x_c - max) - log_sum),
/// or, with `kept` (see xent_rows.kept: exp(x_c - max) relative to the given max), kept_c * exp(-log_sum).
typedef struct {
    const ACC *kept;
    ACC scale;  // exp(-log_sum), with `kept`
} FN(softmax_source);

XENT_INLINE FN(softmax_source) FN(softmax_source_of)(const ACC *kept, FN(norm) n) {
    const FN(softmax_source) source = {kept, kept ? SEXP(-n.log_sum) : (ACC)0};
    return source;
}

XENT_INLINE VEC FN(softmax_vector)(const STORAGE *x, FN(softmax_source) source, int64_t c, FN(norm) n) {
    if (source.kept) {
        VEC e;
        memcpy(&e, source.kept + c, sizeof e);
        return e * source.scale;
    }
    return VEXP((LOAD(x + c) - n.max) - n.log_sum);
}

XENT_INLINE ACC FN(softmax_element)(const STORAGE *x, FN(softmax_source) source, int64_t c, int64_t stride,
                                    FN(norm) n) {
    return source.kept ? source.kept[c] * source.scale : SEXP((WIDEN(x[c * stride]) - n.max) - n.log_sum);
}

/// out_c = a * exp(x_c - lse) - b * v_c: the softmax (a = 1, b = 0) and every gradient, its exps from
/// `source`; the target's extra term is applied by the caller.
XENT_INLINE void FN(write_scaled_softmax)(const STORAGE *x, FN(softmax_source) source, const STORAGE *q, const ACC *w,
                                          OUT *out, int64_t classes, int64_t stride, FN(norm) n, ACC a, ACC b, ACC qa,
                                          ACC qb) {
    int64_t c = 0;
    if (stride == 1) {
        for (; c + LANES <= classes; c += LANES) {
            VEC g = a * FN(softmax_vector)(x, source, c, n);
            if (b != 0) {
                g -= b * FN(vector_weight)(q, w, c, qa, qb);
            }
            STORE(out + c, g);
        }
    }
    for (; c < classes; c++) {
        ACC g = a * FN(softmax_element)(x, source, c, stride, n);
        if (b != 0) {
            g -= b * FN(element_weight)(q, w, c * stride, c, qa, qb);
        }
        out[c * stride] = NARROW(g);
    }
}

XENT_INLINE void FN(write_log_softmax)(const STORAGE *x, OUT *out, int64_t classes, int64_t stride, FN(norm) n) {
    int64_t c = 0;
    if (stride == 1) {
        for (; c + LANES <= classes; c += LANES) {
            STORE(out + c, (LOAD(x + c) - n.max) - n.log_sum);
        }
    }
    for (; c < classes; c++) {
        out[c * stride] = NARROW((WIDEN(x[c * stride]) - n.max) - n.log_sum);
    }
}

/// Row `row`'s loss gradient from its statistics `stat` and logsumexp `n`, two exps per element (the
/// general path; zero for an ignored or out-of-range target).
XENT_INLINE void FN(write_gradient)(const xent_rows *rows, const xent_outputs *outputs, int64_t row, const STORAGE *x,
                                    OUT *out, int64_t base, xent_row_stat stat, FN(norm) n) {
    const int64_t classes = rows->options.classes, inner = rows->options.inner;
    const ACC *w = (const ACC *)rows->weight;
    const FN(gradient_scales) scales = FN(row_gradient_scales)(rows, outputs, row);
    const ACC lse = n.max + n.log_sum;
    if (rows->probabilities) {
        const ACC eps = (ACC)rows->options.label_smoothing;
        const int64_t smoothing_classes = rows->options.smoothing_classes;
        const ACC qa = 1 - eps, qb = smoothing_classes > 0 ? eps / (ACC)smoothing_classes : 0;
        const STORAGE *q = (const STORAGE *)rows->probabilities + base;
        const FN(gradient_coefficients) k = FN(probability_gradient)((ACC)stat.mass, scales, lse);
        FN(write_scaled_softmax)(x, FN(softmax_source_of)(NULL, n), q, w, out, classes, inner, n, k.a, k.b, qa, qb);
        return;
    }
    const int64_t y = rows->targets[row];
    if (y == rows->options.ignore_index || y < 0 || y >= classes) {
        for (int64_t c = 0; c < classes; c++) {
            out[c * inner] = NARROW((ACC)0);
        }
        return;
    }
    const FN(gradient_coefficients) k = FN(class_index_gradient)(rows, y, scales, lse);
    FN(write_scaled_softmax)(x, FN(softmax_source_of)(NULL, n), NULL, w, out, classes, inner, n, k.a, k.b, 0, 0);
    const ACC target = (ACC)stat.target_logit;
    const ACC wy = w ? w[y] : (ACC)1;
    out[y * inner] = NARROW(k.a * SEXP((target - n.max) - n.log_sum) - k.b * wy - k.t);
}

/// A contiguous row's loss gradient a exp(x_c - lse) - b w_c - [c == y] t streamed past the cache, vector
/// by vector from the first 64-byte boundary of `out` (its ends element by element): the row's logits
/// were just read for its statistics, so it is their second read, from cache, and the gradient's only
/// write.
XENT_INLINE void FN(stream_given_gradient)(const STORAGE *x, FN(softmax_source) source, const ACC *w, OUT *out,
                                           int64_t classes, FN(norm) n, ACC a, ACC b, ACC t, int64_t y) {
    const int64_t misaligned = (int64_t)(((uintptr_t)out % 64) / sizeof(OUT));
    const int64_t head = misaligned == 0 ? 0 : (int64_t)(64 / sizeof(OUT)) - misaligned;
    int64_t c = 0;
    for (; c < head && c < classes; c++) {
        const ACC g = a * FN(softmax_element)(x, source, c, 1, n) - b * (w ? w[c] : (ACC)1);
        out[c] = NARROW(c == y ? g - t : g);
    }
    for (; c + LANES <= classes; c += LANES) {
        VEC g = a * FN(softmax_vector)(x, source, c, n);
        if (b != 0) {
            g -= b * FN(vector_weight)(NULL, w, c, 0, 0);
        }
        if (y >= c && y < c + LANES) {
            g = IOTA == (ACC)(y - c) ? g - t : g;
        }
        STREAM(out + c, g);
    }
    for (; c < classes; c++) {
        const ACC g = a * FN(softmax_element)(x, source, c, 1, n) - b * (w ? w[c] : (ACC)1);
        out[c] = NARROW(c == y ? g - t : g);
    }
}

/// Row `row`'s loss gradient from its given logsumexp and coefficients (XENT_GIVEN_GRADIENT), from the
/// row's kept exps where the rows have them, streamed past the cache unless `cached` (see xent_outputs).
XENT_INLINE void FN(write_given_gradient)(const xent_rows *rows, int64_t row, const STORAGE *x, OUT *out,
                                          int64_t base, int cached) {
    const int64_t classes = rows->options.classes, inner = rows->options.inner;
    const ACC *w = (const ACC *)rows->weight;
    const double *given = rows->given + row * XENT_GIVEN_COUNT;
    const FN(norm) n = {(ACC)given[XENT_GIVEN_MAX], (ACC)given[XENT_GIVEN_LOG_SUM]};
    const ACC a = (ACC)given[XENT_GIVEN_A], b = (ACC)given[XENT_GIVEN_B], t = (ACC)given[XENT_GIVEN_T];
    const FN(softmax_source) source = FN(softmax_source_of)(rows->kept ? (const ACC *)rows->kept + row * classes : NULL, n);
    if (rows->probabilities) {
        const ACC eps = (ACC)rows->options.label_smoothing;
        const int64_t smoothing_classes = rows->options.smoothing_classes;
        const ACC qa = 1 - eps, qb = smoothing_classes > 0 ? eps / (ACC)smoothing_classes : 0;
        FN(write_scaled_softmax)(x, source, (const STORAGE *)rows->probabilities + base, w, out, classes, inner, n, a, b,
                                 qa, qb);
        return;
    }
    const int64_t y = rows->targets[row];
    if (inner == 1 && !cached) {
        FN(stream_given_gradient)(x, source, w, out, classes, n, a, b, t, y);
        return;
    }
    FN(write_scaled_softmax)(x, source, NULL, w, out, classes, inner, n, a, b, 0, 0);
    if (y >= 0 && y < classes) {
        const ACC wy = w ? w[y] : (ACC)1;
        out[y * inner] = NARROW(a * FN(softmax_element)(x, source, y, inner, n) - b * wy - t);
    }
}

/// The predicted class of a row whose maximum (NaN skipped) is `m`: the first index holding a NaN when
/// the row has one (`has_nan`), else the first holding `m`, as torch.argmax (0 for a row of -inf, whose
/// `m` may be the lowest finite value); -1 for no classes.
XENT_INLINE int64_t FN(predicted_class)(const STORAGE *x, int64_t classes, int64_t stride, ACC m, int has_nan) {
    for (int64_t c = 0; c < classes; c++) {
        const ACC v = WIDEN(x[c * stride]);
        if (has_nan ? isnan(v) : v == m) {
            return c;
        }
    }
    return classes > 0 ? 0 : -1;
}

/// A row's entropy from its logsumexp in two parts: log_sum - sum_c p_c (x_c - max), with
/// p_c = exp(x_c - max - log_sum); terms whose p_c is 0 add nothing (so -inf logits are harmless).
XENT_INLINE double FN(row_entropy)(const STORAGE *x, int64_t classes, int64_t stride, ACC m, ACC log_sum) {
    ACC weighted = 0;
    int64_t c = 0;
    if (stride == 1) {
        VEC sum = (VEC)0;
        for (; c + LANES <= classes; c += LANES) {
            const VEC xm = LOAD(x + c) - m;
            const VEC p = VEXP(xm - log_sum);
            sum += p != 0 ? p * xm : (VEC)0;
        }
        weighted = HSUM(sum);
    }
    for (; c < classes; c++) {
        const ACC xm = WIDEN(x[c * stride]) - m;
        const ACC p = SEXP(xm - log_sum);
        weighted += p != 0 ? p * xm : 0;
    }
    return (double)log_sum - (double)weighted;
}

/// The predicted classes and entropies of rows [begin, end), whose statistics are in `block`, into
/// `results` (where asked).
XENT_INLINE void FN(row_extras)(const xent_rows *rows, const xent_row_results *results, int64_t begin, int64_t end,
                                const xent_stat_block *block) {
    const int64_t classes = rows->options.classes, inner = rows->options.inner;
    for (int64_t row = begin; row < end; row++) {
        const STORAGE *x = (const STORAGE *)rows->logits + FN(row_base)(row, classes, inner);
        const int64_t i = row - begin;
        if (results->predicted) {
            results->predicted[row] = FN(predicted_class)(x, classes, inner, (ACC)block->max[i], isnan(block->lse[i]));
        }
        if (results->entropy) {
            results->entropy[row] = FN(row_entropy)(x, classes, inner, (ACC)block->max[i], (ACC)block->log_sum[i]);
        }
    }
}
