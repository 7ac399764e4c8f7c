// Row-wise cross-entropy primitives, one work-item per row (the family for CPU-like devices).
//
// Logits are laid out as PyTorch's (outer, classes, inner): row r = (n, k), n = r / inner, k = r % inner,
// starts at n * classes * inner + k and its classes lie `inner` elements apart.
//
// Built after the contract header xent_contract.h (the host puts its text first), whose statistics
// slots, flags, output kinds, tunables and path rule these kernels follow.
//
// Compile-time options (part of the program cache key):
//   XENT_DTYPE      XENT_F16, XENT_BF16, XENT_F32 or XENT_F64: the logits' storage type (half and
//                   bfloat16 are accumulated in float; OpenCL C has no bfloat16, so it is stored as
//                   ushort and widened by a shift)
//   XENT_OUT_DTYPE  the outputs' storage type: XENT_DTYPE, or XENT_F32 for half and bfloat16 logits
//   XENT_VEC    lanes per vector load on contiguous rows (4, 8 or 16)

#if XENT_DTYPE == XENT_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#define ACC double
#define STORAGE double
#define LOWEST (-DBL_MAX)
#else
#define ACC float
#define LOWEST (-FLT_MAX)
#if XENT_DTYPE == XENT_F16
#define STORAGE half
#elif XENT_DTYPE == XENT_BF16
#define STORAGE ushort
#else
#define STORAGE float
#endif
#endif
#if !defined(XENT_DTYPE) || !defined(XENT_OUT_DTYPE)
#error "the host defines XENT_DTYPE and XENT_OUT_DTYPE"
#endif
#if XENT_OUT_DTYPE == XENT_F16
#define OUT half
#elif XENT_OUT_DTYPE == XENT_BF16
#define OUT ushort
#elif XENT_OUT_DTYPE == XENT_F64
#define OUT double
#else
#define OUT float
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VEC CAT(ACC, XENT_VEC)

// Loads of STORAGE as ACC.
#if XENT_DTYPE == XENT_F16
#define LOAD_VEC(p) CAT(vload_half, XENT_VEC)(0, p)
#define LOAD(p) vload_half(0, p)
#elif XENT_DTYPE == XENT_BF16
#define LOAD_VEC(p) CAT(as_float, XENT_VEC)(CAT(convert_uint, XENT_VEC)(CAT(vload, XENT_VEC)(0, p)) << 16)
#define LOAD(p) as_float((uint)(*(p)) << 16)
#else
#define LOAD_VEC(p) CAT(vload, XENT_VEC)(0, p)
#define LOAD(p) (*(p))
#endif

// Stores of ACC as OUT, rounded to nearest even.
#if XENT_OUT_DTYPE == XENT_F16
#define STORE_VEC(v, p) CAT(CAT(vstore_half, XENT_VEC), _rte)(v, 0, p)
#define STORE(v, p) vstore_half_rte(v, 0, p)
#elif XENT_OUT_DTYPE == XENT_BF16
// bfloat16's bits of a float, rounded to nearest even as PyTorch does (a NaN becomes 0x7FC0).
inline ushort bf16_bits(float v) {
    const uint u = as_uint(v);
    return isnan(v) ? (ushort)0x7FC0 : (ushort)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
#define UINT_VEC CAT(uint, XENT_VEC)
inline void store_bf16_vec(CAT(float, XENT_VEC) v, __global ushort *p) {
    const UINT_VEC u = CAT(as_uint, XENT_VEC)(v);
    const UINT_VEC rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16;
    CAT(vstore, XENT_VEC)(CAT(convert_ushort, XENT_VEC)(select(rounded, (UINT_VEC)0x7FC0, isnan(v))), 0, p);
}
#define STORE_VEC(v, p) store_bf16_vec(v, p)
#define STORE(v, p) (*(p) = bf16_bits(v))
#else
#define STORE_VEC(v, p) CAT(vstore, XENT_VEC)(v, 0, p)
#define STORE(v, p) (*(p) = (v))
#endif

// Logit soft-capping (Gemma 2), compiled in where the host defines XENT_SOFTCAP, the cap s (part of the
// program cache key): every logit is read as s tanh(x / s), and a loss gradient carries the factor
// d capped / dx = 1 - (capped / s)^2 (SOFTCAP_FACTOR). Probabilities are read as they are (LOAD).
#ifdef XENT_SOFTCAP
#define CAP(v) ((ACC)XENT_SOFTCAP * tanh((v) / (ACC)XENT_SOFTCAP))
#define SOFTCAP_FACTOR(capped) (1 - ((capped) / (ACC)XENT_SOFTCAP) * ((capped) / (ACC)XENT_SOFTCAP))
#else
#define CAP(v) (v)
#endif
#define LOADX(p) CAP(LOAD(p))
#define LOADX_VEC(p) CAP(LOAD_VEC(p))

typedef struct {
    ACC max, log_sum;
} row_norm;

typedef struct {
    ACC m, s, d, v;
} row_state;

// The online (max, sum) recurrence with the weighted deviation sum d = sum v (x - m).
// The max ignores NaN, which still reaches the sum through exp(NaN - m) and makes the row NaN.
inline void push(row_state *st, ACC x, ACC v, int smooth) {
    ACC mn = fmax(st->m, x);
    if (smooth) {
        st->d += st->v * (st->m - mn) + v * (x - mn);
        st->v += v;
    }
    st->s = st->s * exp(st->m - mn) + exp(x - mn);
    st->m = mn;
}

inline ACC element_weight(__global const STORAGE *q, __global const ACC *w, int flags, long index, long c,
                          ACC qa, ACC qb) {
    ACC v = (flags & XENT_HAS_WEIGHT) ? w[c] : (ACC)1;
    return (flags & XENT_HAS_PROBABILITIES) ? v * (qa * LOAD(q + index) + qb) : v;
}

inline VEC vector_weight(__global const STORAGE *q, __global const ACC *w, int flags, long c, ACC qa, ACC qb) {
    VEC v = (flags & XENT_HAS_WEIGHT) ? CAT(vload, XENT_VEC)(0, w + c) : (VEC)1;
    return (flags & XENT_HAS_PROBABILITIES) ? v * (qa * LOAD_VEC(q + c) + qb) : v;
}

inline ACC horizontal_sum(VEC v) {
    ACC lanes[XENT_VEC];
    CAT(vstore, XENT_VEC)(v, 0, lanes);
    ACC total = 0;
    for (int lane = 0; lane < XENT_VEC; lane++) {
        total += lanes[lane];
    }
    return total;
}

inline ACC horizontal_max(VEC v) {
    ACC lanes[XENT_VEC];
    CAT(vstore, XENT_VEC)(v, 0, lanes);
    ACC result = lanes[0];
    for (int lane = 1; lane < XENT_VEC; lane++) {
        result = fmax(result, lanes[lane]);
    }
    return result;
}

// max(a, b) that keeps `a` unless b > a: one comparison, cheaper than fmax's NaN handling. A NaN may
// hide other lanes from the maximum, but it reaches the row's sum through exp(NaN - m) and makes the
// row NaN whatever the maximum is.
#define MAX_KEEP(a, b) select(a, b, (b) > (a))

#if XENT_DTYPE == XENT_F64
#define EXP_SUM exp
#else
#define IVEC CAT(int, XENT_VEC)
// Range reduction for exp, as the CPU fallback's xent_exp_reduce_vf: x is raised to at least `bound`
// (NaN stays, since NaN < bound is false), then x = n ln2 + r with n an integer and |r| <= ln2/2.
// Returns r, sets *n to n and *t to x / ln2 + 1.5 * 2^23, whose low bits hold n. `exact` subtracts
// n ln2 in two parts (Cody-Waite), else with ln2 rounded to float.
inline VEC exp_reduce(VEC x, float bound, int exact, VEC *t, VEC *n) {
    x = select(x, (VEC)bound, x < (VEC)bound);
    *t = fma(x, (VEC)1.44269504088896341f, (VEC)12582912.0f);  // + 1.5 * 2^23 rounds to n
    *n = *t - (VEC)12582912.0f;
    if (!exact) {
        return fma(-*n, (VEC)0.693147182f, x);
    }
    return fma(-*n, (VEC)-2.12194440e-4f, fma(-*n, (VEC)0.693359375f, x));
}

// exp(x) for terms summed into a total of at least 1 (the terms exp(x - max) of a row or a piece of
// one, whose maximum contributes 1), as the CPU fallback's xent_exp_sum_vf: arguments below -87.3
// give 2^-126 instead of a smaller number, which such a sum cannot see, so 2^n is added to the
// exponent without a range check; x = n ln2 + r with ln2 rounded to float (its error, n * 2e-9
// relative, is below 1e-9 of the sum), and ARM optimized-routines' degree-5 polynomial (about 2 ulp).
// NaN stays NaN. Cheaper on CPU devices than the built-in exp, which handles every range.
inline VEC exp_sum(VEC x) {
    VEC t, n;
    const VEC r = exp_reduce(x, -87.3f, 0, &t, &n);
    const VEC r2 = r * r;
    const VEC p = fma((VEC)0x1.0e4020p-7f, r, (VEC)0x1.573e2ep-5f);
    const VEC q = fma(p, r2, fma((VEC)0x1.555e66p-3f, r, (VEC)0x1.fffdb6p-2f));
    const VEC poly = fma(q, r2, (VEC)0x1.ffffecp-1f * r);
    // 2^n is (n + 127) << 23, and n << 23 is t << 23: the shifter's bits vanish in the shift.
    const VEC scale = CAT(as_float, XENT_VEC)((CAT(as_int, XENT_VEC)(t) << 23) + (IVEC)(127 << 23));
    return fma(poly, scale, scale);
}
#define EXP_SUM exp_sum
#endif

// exp(x) for the outputs' arguments, x <= 0 or NaN ((x - max) - log_sum, x - max). On a CPU device
// with AVX-512 (PoCL compiles for its host, and clang then defines __AVX512F__) it is the CPU
// fallback's AVX-512 exp: Cody-Waite reduction, Cephes' degree-7 polynomial (about 1 ulp) and 2^n
// applied by vscalefps, which also rounds subnormal results correctly; cheaper there than the
// built-in exp, whose range checks take masks. Elsewhere the built-in exp.
#if XENT_DTYPE != XENT_F64 && XENT_VEC == 16 && defined(__AVX512F__)
inline VEC exp_output(VEC x) {
    VEC t, n;
    const VEC r = exp_reduce(x, -104.0f, 1, &t, &n);  // exp(-104) rounds to 0
    VEC p = (VEC)1.9875691500e-4f;
    p = fma(p, r, (VEC)1.3981999507e-3f);
    p = fma(p, r, (VEC)8.3334519073e-3f);
    p = fma(p, r, (VEC)4.1665795894e-2f);
    p = fma(p, r, (VEC)1.6666665459e-1f);
    p = fma(p, r, (VEC)5.0000001201e-1f);
    p = fma(p * r, r, r + (VEC)1.0f);
    return __builtin_ia32_scalefps512_mask(p, n, p, (ushort)0xffff, 4);  // 4: the current rounding
}
#define EXP_OUTPUT exp_output
#else
#define EXP_OUTPUT exp
#endif

// Fetches the line at p into the cache ahead of its use where the compiler offers a way (clang's
// builtin, which PoCL has) and the host allows it (XENT_PREFETCH: not on Oclgrind, which cannot run
// llvm.prefetch): the passes over a row that fits in cache fetch the next row, so that its maximum pass
// finds it there rather than waiting on memory.
#if XENT_PREFETCH && defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define PREFETCH(p) __builtin_prefetch((p))
#endif
#endif
#ifndef PREFETCH
#define PREFETCH(p)
#endif

// The maximum of a contiguous row; -inf for an empty row or one of -inf and NaN only (see MAX_KEEP).
inline ACC row_max(__global const STORAGE *x, long classes) {
    VEC mv = (VEC)(-INFINITY);
    long c = 0;
    for (; c + 4 * XENT_VEC <= classes; c += 4 * XENT_VEC) {
        mv = MAX_KEEP(mv, MAX_KEEP(MAX_KEEP(LOADX_VEC(x + c), LOADX_VEC(x + c + XENT_VEC)),
                           MAX_KEEP(LOADX_VEC(x + c + 2 * XENT_VEC), LOADX_VEC(x + c + 3 * XENT_VEC))));
    }
    for (; c + XENT_VEC <= classes; c += XENT_VEC) {
        mv = MAX_KEEP(mv, LOADX_VEC(x + c));
    }
    ACC m = horizontal_max(mv);
    for (; c < classes; c++) {
        m = fmax(m, LOADX(x + c));
    }
    return m;
}

// A contiguous row that fits in cache, in two passes: its maximum m, then sum exp(x - m) (and the
// deviation terms) from cache: one exp per element and no rescaling. fmax skips NaN, which still
// reaches the sum; a row of -inf (or empty) gets s = 0 and lse = -inf.
inline row_state scan_two_pass(__global const STORAGE *x, __global const STORAGE *q, __global const ACC *w,
                               long classes, int flags, ACC qa, ACC qb) {
    const int smooth = (flags & XENT_ACCUMULATE_SMOOTH) != 0;
    const ACC m = row_max(x, classes);
    VEC s0 = (VEC)0, s1 = (VEC)0, s2 = (VEC)0, s3 = (VEC)0, d = (VEC)0, vs = (VEC)0;
    long c = 0;
    if (!smooth) {
        for (; c + 4 * XENT_VEC <= classes; c += 4 * XENT_VEC) {
            PREFETCH(x + classes + c);  // the next row
            PREFETCH(x + classes + c + XENT_VEC);
            PREFETCH(x + classes + c + 2 * XENT_VEC);
            PREFETCH(x + classes + c + 3 * XENT_VEC);
            s0 += EXP_SUM(LOADX_VEC(x + c) - m);
            s1 += EXP_SUM(LOADX_VEC(x + c + XENT_VEC) - m);
            s2 += EXP_SUM(LOADX_VEC(x + c + 2 * XENT_VEC) - m);
            s3 += EXP_SUM(LOADX_VEC(x + c + 3 * XENT_VEC) - m);
        }
    }
    for (; c + XENT_VEC <= classes; c += XENT_VEC) {
        PREFETCH(x + classes + c);
        VEC xm = LOADX_VEC(x + c) - m;
        s0 += EXP_SUM(xm);
        if (smooth) {
            VEC v = vector_weight(q, w, flags, c, qa, qb);
            d += v * xm;
            vs += v;
        }
    }
    row_state st = {m, horizontal_sum((s0 + s1) + (s2 + s3)), horizontal_sum(d), horizontal_sum(vs)};
    for (; c < classes; c++) {
        const ACC xm = LOADX(x + c) - m;
        st.s += exp(xm);
        if (smooth) {
            const ACC v = element_weight(q, w, flags, c, c, qa, qb);
            st.d += v * xm;
            st.v += v;
        }
    }
    if (m == -INFINITY) {
        // No finite maximum: the sum is 0 (lse = -inf) unless a NaN is present.
        st.s = 0;
        for (c = 0; c < classes; c++) {
            st.s += isnan(LOADX(x + c)) ? NAN : 0;
        }
    }
    return st;
}

// Merges state b into a: (m1, s1) + (m2, s2) = (max, s1 e^(m1 - max) + s2 e^(m2 - max)), and the
// deviation sums and masses alike.
inline void merge_states(row_state *a, row_state b, int smooth) {
    const ACC mn = fmax(a->m, b.m);
    a->s = a->s * exp(a->m - mn) + b.s * exp(b.m - mn);
    if (smooth) {
        a->d = a->d + a->v * (a->m - mn) + b.d + b.v * (b.m - mn);
        a->v += b.v;
    }
    a->m = mn;
}

// The online recurrence on the lanes of a vector, each lane a state of its own.
typedef struct {
    VEC m, s, d, v;
} lane_states;

inline lane_states empty_lanes(void) {
    const lane_states lanes = {(VEC)LOWEST, (VEC)0, (VEC)0, (VEC)0};
    return lanes;
}

// Pushes the XENT_VEC values xv (with their weights, for the deviation sums) into the lanes' states.
inline void push_vector(lane_states *lanes, VEC xv, VEC weights, int smooth) {
    const VEC mn = fmax(lanes->m, xv);
    if (smooth) {
        lanes->d += lanes->v * (lanes->m - mn) + weights * (xv - mn);
        lanes->v += weights;
    }
    lanes->s = lanes->s * exp(lanes->m - mn) + exp(xv - mn);
    lanes->m = mn;
}

// Merges every lane's state into st.
inline void merge_lanes(row_state *st, lane_states lanes, int smooth) {
    ACC lm[XENT_VEC], ls[XENT_VEC], ld[XENT_VEC], lv[XENT_VEC];
    CAT(vstore, XENT_VEC)(lanes.m, 0, lm);
    CAT(vstore, XENT_VEC)(lanes.s, 0, ls);
    CAT(vstore, XENT_VEC)(lanes.d, 0, ld);
    CAT(vstore, XENT_VEC)(lanes.v, 0, lv);
    for (int lane = 0; lane < XENT_VEC; lane++) {
        const row_state other = {lm[lane], ls[lane], ld[lane], lv[lane]};
        merge_states(st, other, smooth);
    }
}

// Any row: the online (max, sum) recurrence in one read, vector lanes merged at the end. Used for
// strided (K-dimensional) rows and for rows too long for the cache that carry deviation terms.
inline row_state scan_online(__global const STORAGE *x, __global const STORAGE *q, __global const ACC *w,
                             long classes, long stride, int flags, ACC qa, ACC qb) {
    const int smooth = (flags & XENT_ACCUMULATE_SMOOTH) != 0;
    row_state st = {LOWEST, 0, 0, 0};
    long c = 0;
    if (stride == 1) {
        lane_states lanes = empty_lanes();
        for (; c + XENT_VEC <= classes; c += XENT_VEC) {
            push_vector(&lanes, LOADX_VEC(x + c), smooth ? vector_weight(q, w, flags, c, qa, qb) : (VEC)0, smooth);
        }
        merge_lanes(&st, lanes, smooth);
    }
    for (; c < classes; c++) {
        push(&st, LOADX(x + c * stride), smooth ? element_weight(q, w, flags, c * stride, c, qa, qb) : 0, smooth);
    }
    return st;
}

// A contiguous row too long for the cache, without deviation terms: pieces that fit, each in two
// passes, their (max, sum) pairs merged. One exp per element, where the online recurrence takes two.
// A piece of -inf adds 0 (its max -inf stays below the state's, which starts at LOWEST).
inline row_state scan_pieces(__global const STORAGE *x, long classes) {
    const long piece = XENT_CACHED_ROW_BYTES / (long)sizeof(STORAGE);
    row_state st = {LOWEST, 0, 0, 0};
    for (long start = 0; start < classes; start += piece) {
        const row_state p = scan_two_pass(x + start, x, (__global const ACC *)0, min(piece, classes - start), 0, 0, 0);
        const ACC mn = fmax(st.m, p.m);
        st.s = st.s * exp(st.m - mn) + p.s * exp(p.m - mn);
        st.m = mn;
    }
    return st;
}

// A row's statistics by the contract's path: this family has no lanes-across-rows path, so rows of few
// classes take the two passes; long rows without smoothing sums are read in pieces, and with them by
// the online recurrence, as strided rows are.
inline row_state scan_row(__global const STORAGE *x, __global const STORAGE *q, __global const ACC *w,
                          long classes, long stride, int flags, ACC qa, ACC qb) {
    const int smooth = (flags & XENT_ACCUMULATE_SMOOTH) != 0;
    const xent_row_path path = xent_statistics_path(classes, stride, (long)sizeof(STORAGE), smooth);
    if (path == XENT_PATH_TWO_PASS || path == XENT_PATH_FEW_CLASSES) {
        return scan_two_pass(x, q, w, classes, flags, qa, qb);
    }
    if (path == XENT_PATH_LONG_ROW && !smooth) {
        return scan_pieces(x, classes);
    }
    return scan_online(x, q, w, classes, stride, flags, qa, qb);
}

// The options of a launch, in the accumulation type (see XENT_ROW_OPTIONS in the contract header).
typedef XENT_ROW_OPTIONS(ACC) row_options;

// One launch's rows: its buffers, its row count and its options, the parameters every row kernel
// takes (declared once, by ROW_KERNEL_PARAMETERS, in the order of the host's RowKernelArguments),
// gathered into one row_batch for the helpers. A buffer a launch does not use (by its flags, or its
// kind) is a placeholder.
typedef struct {
    __global const STORAGE *logits;
    __global const STORAGE *probabilities;  // class probabilities (XENT_HAS_PROBABILITIES)
    __global const long *targets;           // class indices (XENT_HAS_TARGETS)
    __global const ACC *weight;             // per-class weights (XENT_HAS_WEIGHT)
    __global ACC *stats;                    // XENT_STAT_COUNT values per row, in the contract's slots
    __global OUT *destination;              // the outputs (row_outputs); may be the logits (in place)
    __global const ACC *upstream;           // one value per row (XENT_HAS_UPSTREAM)
    long rows;
    row_options o;
} row_batch;

#define ROW_KERNEL_PARAMETERS                                                                                        \
    __global const STORAGE *logits, __global const STORAGE *probabilities, __global const long *targets,             \
        __global const ACC *weight, __global ACC *stats, __global OUT *destination, __global const ACC *upstream,     \
        long rows, row_options options
#define ROW_BATCH {logits, probabilities, targets, weight, stats, destination, upstream, rows, options}

// Where row `row` starts in the (outer, classes, inner) layout.
inline long row_base(const row_batch *b, long row) {
    return (row / b->o.inner) * b->o.classes * b->o.inner + row % b->o.inner;
}

// Writes row `row`'s statistics (it starts at `base`) from its merged state, gathering its target logit.
inline void write_row_statistics(const row_batch *b, long row, long base, row_state st, ACC log_sum) {
    ACC target = 0;
    if (b->o.flags & XENT_HAS_TARGETS) {
        const long y = b->targets[row];
        if (y >= 0 && y < b->o.classes) {
            target = LOADX(b->logits + base + y * b->o.inner);
        }
    }
    __global ACC *out = b->stats + XENT_STAT_COUNT * row;
    out[XENT_STAT_MAX] = st.m;
    out[XENT_STAT_LOG_SUM] = log_sum;
    out[XENT_STAT_TARGET_LOGIT] = target;
    out[XENT_STAT_SMOOTH] = (b->o.flags & XENT_ACCUMULATE_SMOOTH) ? st.v * log_sum - st.d : 0;
    out[XENT_STAT_MASS] = (b->o.flags & XENT_ACCUMULATE_SMOOTH) ? st.v : 0;
    ACC lse = st.m + log_sum;
    if (st.m == INFINITY) {
        lse = INFINITY;
        for (long c = 0; c < b->o.classes; c++) {
            lse = isnan(LOADX(b->logits + base + c * b->o.inner)) ? NAN : lse;
        }
    }
    out[XENT_STAT_LSE] = lse;
}

// The smoothing sums' per-class weights of probability targets: v_c = w_c (qa q_c + qb).
inline ACC smoothing_qa(const row_batch *b) { return 1 - b->o.label_smoothing; }
inline ACC smoothing_qb(const row_batch *b) {
    return b->o.smoothing_classes > 0 ? b->o.label_smoothing / b->o.smoothing_classes : 0;
}

// Computes row `row`'s statistics into its slots of `stats` and returns its logsumexp's parts.
inline row_norm row_statistics_of(const row_batch *b, long row) {
    const long base = row_base(b, row);
    row_state st = scan_row(b->logits + base, b->probabilities + ((b->o.flags & XENT_HAS_PROBABILITIES) ? base : 0),
                            b->weight, b->o.classes, b->o.inner, b->o.flags, smoothing_qa(b), smoothing_qb(b));
    const row_norm norm = {st.m, log(st.s)};
    write_row_statistics(b, row, base, st, norm.log_sum);
    return norm;
}

__kernel void row_statistics(ROW_KERNEL_PARAMETERS) {
    const row_batch b = ROW_BATCH;
    const long row = get_global_id(0);
    if (row >= rows) {
        return;
    }
    row_statistics_of(&b, row);
}

// Vector stores that bypass the cache where the compiler offers them (clang's builtin, which PoCL has):
// the outputs are not read again, and a plain store would first read each line from memory. They are
// ordered before the host reads the outputs by the runtime's own synchronisation at the end of the
// launch (locked instructions on x86).
#if defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store) && XENT_OUT_DTYPE != XENT_F16 && XENT_OUT_DTYPE != XENT_BF16
#define STREAM_VEC(v, p) __builtin_nontemporal_store((v), (__global VEC *)(p))
#endif
#endif
#ifndef STREAM_VEC
#define STREAM_VEC(v, p) STORE_VEC(v, p)
#endif

#if XENT_DTYPE == XENT_F64
#define LANE_MASK CAT(long, XENT_VEC)
#else
#define LANE_MASK CAT(int, XENT_VEC)
#endif
#if XENT_VEC == 16
#define LANE_INDEX ((LANE_MASK)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#elif XENT_VEC == 8
#define LANE_INDEX ((LANE_MASK)(0, 1, 2, 3, 4, 5, 6, 7))
#else
#define LANE_INDEX ((LANE_MASK)(0, 1, 2, 3))
#endif

// g - [c' == y] t for the XENT_VEC classes c' from c (y = -1: none).
inline VEC minus_target(VEC g, long c, long y, ACC t) {
    const int lane = y >= c && y < c + XENT_VEC ? (int)(y - c) : -1;
    return select(g, g - t, LANE_INDEX == (LANE_MASK)lane);
}

// The index of the first element of `out` at a boundary a vector wide: where its streamed vectors start.
inline long stream_head(__global const OUT *out) {
    const long width = XENT_VEC * (long)sizeof(OUT);
    return ((width - (long)((ulong)out % (ulong)width)) % width) / (long)sizeof(OUT);
}

// out_c = a * exp(x_c - lse) - b * v_c - [c == y] t for the XENT_VEC classes from c.
inline VEC scaled_softmax_vector(__global const STORAGE *x, __global const STORAGE *q, __global const ACC *w,
                                 long c, int flags, row_norm n, ACC a, ACC b, ACC qa, ACC qb, long y, ACC t) {
    VEC g = a * EXP_OUTPUT((LOADX_VEC(x + c) - n.max) - n.log_sum);
    if (b != 0) {
        g -= b * vector_weight(q, w, flags, c, qa, qb);
    }
#ifdef XENT_SOFTCAP
    return minus_target(g, c, y, t) * SOFTCAP_FACTOR(LOADX_VEC(x + c));
#else
    return minus_target(g, c, y, t);
#endif
}

// out_c = a * exp(x_c - lse) - b * v_c - [c == y] t (y = -1: no target term). `out` may be `x`.
inline void write_scaled_softmax(__global const STORAGE *x, __global const STORAGE *q, __global const ACC *w,
                                 __global OUT *out, long classes, long stride, int flags, row_norm n, ACC a,
                                 ACC b, ACC qa, ACC qb, long y, ACC t) {
    if (stride == 1 && classes >= XENT_VEC) {
        // Whole vectors streamed from the first boundary of `out` a vector wide; where they leave classes
        // at either end, those classes of the vector there, element by element (a plain vector store
        // into a streamed line would stall both). Those two vectors are computed first and stored last,
        // since in place the streamed vectors overwrite logits they read.
        const long head = stream_head(out);
        const long body = head + (classes - head) / XENT_VEC * XENT_VEC;
        const VEC first = scaled_softmax_vector(x, q, w, 0, flags, n, a, b, qa, qb, y, t);
        const VEC last = scaled_softmax_vector(x, q, w, classes - XENT_VEC, flags, n, a, b, qa, qb, y, t);
        for (long c = head; c < body; c += XENT_VEC) {
            PREFETCH(x + classes + c);  // the next row
            STREAM_VEC(scaled_softmax_vector(x, q, w, c, flags, n, a, b, qa, qb, y, t), out + c);
        }
        ACC lanes[XENT_VEC];
        CAT(vstore, XENT_VEC)(first, 0, lanes);
        for (long c = 0; c < head; c++) {
            STORE(lanes[c], out + c);
        }
        CAT(vstore, XENT_VEC)(last, 0, lanes);
        for (long c = body; c < classes; c++) {
            STORE(lanes[c - (classes - XENT_VEC)], out + c);
        }
        return;
    }
    for (long c = 0; c < classes; c++) {
        ACC g = a * exp((LOADX(x + c * stride) - n.max) - n.log_sum);
        if (b != 0) {
            g -= b * element_weight(q, w, flags, c * stride, c, qa, qb);
        }
#ifdef XENT_SOFTCAP
        STORE((c == y ? g - t : g) * SOFTCAP_FACTOR(LOADX(x + c * stride)), out + c * stride);
#else
        STORE(c == y ? g - t : g, out + c * stride);
#endif
    }
}

// The factor row `row`'s upstream value adds to its gradient: 1 unless XENT_HAS_UPSTREAM.
inline ACC row_upstream(const row_batch *b, long row) {
    return (b->o.flags & XENT_HAS_UPSTREAM) ? b->upstream[row] : (ACC)1;
}

// The coefficients of row `row`'s loss gradient, out_c = a exp(x_c - lse) - b v_c - [c == y] t, from its
// logsumexp `lse` and the launch's options: the derivative of the row loss (the host's loss formula,
// xent_fold_rows) times gradient_scale, plus the z-loss's, 2 z lse softmax_c, as z_gradient_scale lse
// (nothing without a z-loss, so that a row whose lse is not finite keeps the gradient it has without
// one); both times the row's upstream value. Every gradient kernel of both families takes them from here.
typedef struct {
    ACC a, b, t;
} gradient_coefficients;

// The z-loss's part of a.
inline ACC z_loss_term(const row_batch *b, long row, ACC lse) {
    return b->o.z_gradient_scale != 0 ? b->o.z_gradient_scale * row_upstream(b, row) * lse : 0;
}

// For class-index target y (valid, not ignored), with weight wy (1 without weights) and eps the label
// smoothing: a = (1 - eps) w_y + eps W / C (W the weights' total), b = eps / C (v_c = w_c),
// t = (1 - eps) w_y.
inline gradient_coefficients class_index_gradient(const row_batch *b, long row, ACC wy, ACC lse) {
    const ACC scale = b->o.gradient_scale * row_upstream(b, row);
    const ACC eps = b->o.label_smoothing;
    const long classes = b->o.smoothing_classes;
    const gradient_coefficients k = {scale * ((1 - eps) * wy + eps * b->o.weight_total / classes) +
                                         z_loss_term(b, row, lse),
                                     scale * eps / classes, scale * (1 - eps) * wy};
    return k;
}

// For probability targets: a = mass, b = 1 (v_c = w_c ((1 - eps) q_c + eps / C)), no t.
inline gradient_coefficients probability_gradient(const row_batch *b, long row, ACC mass, ACC lse) {
    const ACC scale = b->o.gradient_scale * row_upstream(b, row);
    const gradient_coefficients k = {scale * mass + z_loss_term(b, row, lse), scale, 0};
    return k;
}

// Row `row`'s loss gradient from its given logsumexp and coefficients, read from its statistics slots
// (XENT_GIVEN_GRADIENT): a slice of the classes whose statistics were merged with the other slices'.
inline void given_gradient(const row_batch *b, long row) {
    __global const ACC *given = b->stats + XENT_STAT_COUNT * row;
    const row_norm n = {given[XENT_GIVEN_MAX], given[XENT_GIVEN_LOG_SUM]};
    const ACC a = given[XENT_GIVEN_A], bb = given[XENT_GIVEN_B], t = given[XENT_GIVEN_T];
    const long base = row_base(b, row);
    const long classes = b->o.classes;
    const int flags = b->o.flags;
    __global const STORAGE *x = b->logits + base;
    __global OUT *out = b->destination + base;
    if (flags & XENT_HAS_PROBABILITIES) {
        write_scaled_softmax(x, b->probabilities + base, b->weight, out, classes, b->o.inner, flags, n, a, bb,
                             smoothing_qa(b), smoothing_qb(b), -1, 0);
    } else {
        const long y = b->targets[row];
        write_scaled_softmax(x, x, b->weight, out, classes, b->o.inner, flags & XENT_HAS_WEIGHT, n, a, bb, 0, 0,
                             y >= 0 && y < classes ? y : -1, t);
    }
}

// What a row's outputs are made of: out_c = a exp(x_c - lse) - b v_c - [c == y] t for a gradient or a
// softmax (zeros when `zero`), x_c - lse for a log-softmax.
typedef struct {
    ACC a, b, t;
    long y;
    int zero;
} output_terms;

// Row `row`'s output terms from its logsumexp's parts and its mass (the probabilities' weighted sum, for
// probability targets), as the launch's kind asks. Both kernel families take them from here.
inline output_terms row_output_terms(const row_batch *batch, long row, ACC mass, row_norm n) {
    output_terms terms = {1, 0, 0, -1, 0};
    if (batch->o.kind != XENT_OUTPUT_GRADIENT) {
        return terms;
    }
    gradient_coefficients k = {0, 0, 0};
    if (batch->o.flags & XENT_HAS_PROBABILITIES) {
        k = probability_gradient(batch, row, mass, n.max + n.log_sum);
    } else {
        terms.y = batch->targets[row];
        terms.zero = terms.y == batch->o.ignore_index || terms.y < 0 || terms.y >= batch->o.classes;
        if (!terms.zero) {
            const ACC wy = (batch->o.flags & XENT_HAS_WEIGHT) ? batch->weight[terms.y] : (ACC)1;
            k = class_index_gradient(batch, row, wy, n.max + n.log_sum);
        }
    }
    terms.a = k.a;
    terms.b = k.b;
    terms.t = k.t;
    return terms;
}

// Row `row`'s statistics, then its log-softmax, softmax or loss gradient (see row_outputs).
inline void row_output(const row_batch *b, long row) {
    if (b->o.flags & XENT_GIVEN_GRADIENT) {
        given_gradient(b, row);
        return;
    }
    const row_norm n = row_statistics_of(b, row);
    const long base = row_base(b, row);
    const long classes = b->o.classes, inner = b->o.inner;
    const int flags = b->o.flags;
    __global const STORAGE *x = b->logits + base;
    __global OUT *out = b->destination + base;
    __global const ACC *weight = b->weight;
    if (b->o.kind == XENT_OUTPUT_LOG_SOFTMAX) {
        long c = 0;
        if (inner == 1) {
            for (; c + XENT_VEC <= classes; c += XENT_VEC) {
                STORE_VEC((LOADX_VEC(x + c) - n.max) - n.log_sum, out + c);
            }
        }
        for (; c < classes; c++) {
            STORE((LOADX(x + c * inner) - n.max) - n.log_sum, out + c * inner);
        }
        return;
    }
    const output_terms p = row_output_terms(b, row, b->stats[XENT_STAT_COUNT * row + XENT_STAT_MASS], n);
    if (p.zero) {
        for (long c = 0; c < classes; c++) {
            STORE((ACC)0, out + c * inner);
        }
        return;
    }
    const int probabilities = (flags & XENT_HAS_PROBABILITIES) != 0;
    const int weights = b->o.kind == XENT_OUTPUT_GRADIENT ? flags & (XENT_HAS_WEIGHT | XENT_HAS_PROBABILITIES) : 0;
    write_scaled_softmax(x, probabilities ? b->probabilities + base : x, weight, out, classes, inner, weights, n, p.a,
                         p.b, probabilities ? smoothing_qa(b) : 0, probabilities ? smoothing_qb(b) : 0, p.y, p.t);
}

// One launch per batch: each row's statistics, then its log-softmax, softmax or loss gradient.
__kernel void row_outputs(ROW_KERNEL_PARAMETERS) {
    const row_batch b = ROW_BATCH;
    const long row = get_global_id(0);
    if (row < rows) {
        row_output(&b, row);
    }
}

// A row whose statistics are written and whose loss gradient is still to be streamed from its
// exps `e`, vector by vector from `head`, the first element of `out` at a vector boundary (its ends
// are already stored).
typedef struct {
    __local const ACC *e;
    __global OUT *out;
    ACC a, t;
    long y, head, vectors;
} pending_gradient;

// Streams vector k (counted from `head`) of `p`'s gradient, a e_c - [c == y] t, past the cache.
inline void stream_gradient_vector(pending_gradient p, long k) {
    const long c = p.head + k * XENT_VEC;
    STREAM_VEC(minus_target(p.a * CAT(vload, XENT_VEC)(0, p.e + c), c, p.y, p.t), p.out + c);
}

// Stores element c of `p`'s gradient (one its streamed vectors leave at an end of the row).
inline void store_gradient_element(pending_gradient p, long c) {
    STORE(c == p.y ? p.a * p.e[c] - p.t : p.a * p.e[c], p.out + c);
}

// Loss gradients on XENT_PATH_PIPELINED_GRADIENT (contiguous rows with class-index targets and no
// smoothing terms), rows [first, first + XENT_GRADIENT_RUN_ROWS) per work-item and one work-item per work-group, whose local `scratch`
// holds two rows, each padded to whole vectors: a row's exps are computed once into its half while
// summing, and its gradient is streamed out of them while the next row's exps are computed, so that
// the writes overlap that work (the C fallback's pipelined gradient). The exps are stored through
// the vector type, which PoCL compiles to one store where vstore splits it into three. Rows without
// a target to fuse or a finite maximum take row_output.
__kernel void row_gradient_runs(ROW_KERNEL_PARAMETERS, __local VEC *scratch) {
    const row_batch b = ROW_BATCH;
    const long classes = options.classes;
    const int flags = options.flags;
    const long first = get_global_id(0) * XENT_GRADIENT_RUN_ROWS;
    const long end = min(first + XENT_GRADIENT_RUN_ROWS, rows);
    const long vectors = classes / XENT_VEC;
    pending_gradient p;
    int pending = 0;
    for (long row = first; row < end; row++) {
        __global const STORAGE *x = logits + row * classes;
        const long y = targets[row];
        const ACC m = y != options.ignore_index && y >= 0 && y < classes ? row_max(x, classes) : NAN;
        if (!(m > -INFINITY && m < INFINITY)) {
            row_output(&b, row);
            continue;
        }
        // This row's half of the scratch: the one the pending row's exps are not in.
        const long padded_vectors = (classes + XENT_VEC - 1) / XENT_VEC;
        __local VEC *exps = pending && p.e == (__local const ACC *)scratch ? scratch + padded_vectors : scratch;
        __local ACC *e = (__local ACC *)exps;
        // Two loops, with and without a pending row: one loop testing `pending` inside measured slower.
        VEC s = (VEC)0;
        if (pending) {
            // The pending row's vectors start half its vectors, or 2 KiB, on from this row's, so that
            // its loads and this row's stores fall at different page offsets.
            const long shift = min(p.vectors / 2, 2048 / (XENT_VEC * (long)sizeof(OUT)));
            for (long k = 0; k < vectors; k++) {
                PREFETCH(x + classes + k * XENT_VEC);  // the next row
                const VEC ev = EXP_OUTPUT(LOADX_VEC(x + k * XENT_VEC) - m);
                exps[k] = ev;
                s += ev;
                if (k < p.vectors) {
                    stream_gradient_vector(p, k + shift < p.vectors ? k + shift : k + shift - p.vectors);
                }
            }
        } else {
            for (long k = 0; k < vectors; k++) {
                PREFETCH(x + classes + k * XENT_VEC);
                const VEC ev = EXP_OUTPUT(LOADX_VEC(x + k * XENT_VEC) - m);
                exps[k] = ev;
                s += ev;
            }
        }
        ACC sum = horizontal_sum(s);
        for (long c = vectors * XENT_VEC; c < classes; c++) {
            e[c] = exp(LOADX(x + c) - m);
            sum += e[c];
        }
        const row_state st = {m, sum, 0, 0};
        const ACC log_sum = log(sum);
        write_row_statistics(&b, row, row * classes, st, log_sum);
        const ACC wy = (flags & XENT_HAS_WEIGHT) ? weight[y] : (ACC)1;
        const gradient_coefficients k = class_index_gradient(&b, row, wy, m + log_sum);
        p.e = e;
        p.out = destination + row * classes;
        p.a = k.a / sum;  // e_c = exp(x_c - max) = exp(x_c - lse) * sum
        p.t = k.t;
        p.y = y;
        p.head = stream_head(p.out);
        p.vectors = (classes - p.head) / XENT_VEC;
        for (long c = 0; c < p.head; c++) {
            store_gradient_element(p, c);
        }
        for (long c = p.head + p.vectors * XENT_VEC; c < classes; c++) {
            store_gradient_element(p, c);
        }
        pending = 1;
    }
    if (pending) {
        for (long k = 0; k < p.vectors; k++) {
            stream_gradient_vector(p, k);
        }
    }
}

// Each row's predicted class and entropy from its statistics, as the C fallback's row_extras: the class
// is the first index holding a NaN when the row has one, else the first holding its maximum (as
// torch.argmax; 0 for a row of -inf, -1 for no classes); the entropy is log_sum - sum_c p_c (x_c - max),
// a zero p_c adding nothing. Launched after row_statistics (or row_statistics_group), when asked for.
__kernel void row_extras(__global const STORAGE *logits, __global const ACC *stats, long rows, row_options options,
                         __global long *predicted, __global ACC *entropy) {
    const long row = get_global_id(0);
    if (row >= rows) {
        return;
    }
    const long classes = options.classes, inner = options.inner;
    __global const STORAGE *x = logits + (row / inner) * classes * inner + row % inner;
    __global const ACC *stat = stats + XENT_STAT_COUNT * row;
    const ACC m = stat[XENT_STAT_MAX], log_sum = stat[XENT_STAT_LOG_SUM];
    const int has_nan = isnan(stat[XENT_STAT_LSE]);
    long found = classes > 0 ? 0 : -1;
    for (long c = 0; c < classes; c++) {
        const ACC v = LOADX(x + c * inner);
        if (has_nan ? isnan(v) : v == m) {
            found = c;
            break;
        }
    }
    predicted[row] = found;
    ACC weighted = 0;
    for (long c = 0; c < classes; c++) {
        const ACC xm = LOADX(x + c * inner) - m;
        const ACC p = exp(xm - log_sum);
        weighted += p != 0 ? p * xm : 0;
    }
    entropy[row] = log_sum - weighted;
}

// The logit of each row's target class (0 for a target outside 0..<classes, such as an ignored row).
__kernel void gather_targets(__global const STORAGE *logits, __global const long *targets, long rows, long classes,
                             long inner, __global ACC *gathered) {
    const long row = get_global_id(0);
    if (row >= rows) {
        return;
    }
    const long y = targets[row];
    const long base = (row / inner) * classes * inner + row % inner;
    gathered[row] = (y >= 0 && y < classes) ? (ACC)LOAD(logits + base + y * inner) : (ACC)0;
}
