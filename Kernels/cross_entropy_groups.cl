// Row-wise cross-entropy primitives, one work-group per row (the family for GPUs): every row takes this
// one path. Built after the contract header and cross_entropy_rows.cl, whose types, flags and helpers
// (the gradient's coefficients among them) it uses.
//
// Each of the XENT_GROUP work-items folds the classes c = lid, lid + XENT_GROUP, ... (consecutive
// work-items read consecutive addresses) into its own online (max, sum) state; the states are merged
// by a tree in local memory. The merge is the same associative operator as everywhere else:
//   (m1, s1) + (m2, s2) = (max, s1 e^(m1 - max) + s2 e^(m2 - max)).
//
// Compile-time option (part of the program cache key): XENT_GROUP, the work-group size, a power of two.

inline void merge_states(row_state *a, row_state b, int smooth) {
    const ACC mn = fmax(a->m, b.m);
    a->s = a->s * exp(a->m - mn) + b.s * exp(b.m - mn);
    if (smooth) {
        a->d = a->d + a->v * (a->m - mn) + b.d + b.v * (b.m - mn);
        a->v += b.v;
    }
    a->m = mn;
}

// The row's merged state, in every work-item of the group.
inline row_state group_scan_row(__global const STORAGE *x, __global const STORAGE *q, __global const ACC *w,
                                long classes, long stride, int flags, ACC qa, ACC qb, __local ACC *scratch) {
    const int smooth = (flags & XENT_ACCUMULATE_SMOOTH) != 0;
    const int lid = get_local_id(0);
    row_state st = {LOWEST, 0, 0, 0};
    for (long c = lid; c < classes; c += XENT_GROUP) {
        push(&st, LOADX(x + c * stride), smooth ? element_weight(q, w, flags, c * stride, c, qa, qb) : 0, smooth);
    }
    __local ACC *lm = scratch, *ls = scratch + XENT_GROUP, *ld = scratch + 2 * XENT_GROUP,
                *lv = scratch + 3 * XENT_GROUP;
    lm[lid] = st.m;
    ls[lid] = st.s;
    ld[lid] = st.d;
    lv[lid] = st.v;
    for (int offset = XENT_GROUP / 2; offset > 0; offset >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < offset) {
            row_state other = {lm[lid + offset], ls[lid + offset], ld[lid + offset], lv[lid + offset]};
            merge_states(&st, other, smooth);
            lm[lid] = st.m;
            ls[lid] = st.s;
            ld[lid] = st.d;
            lv[lid] = st.v;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    row_state merged = {lm[0], ls[0], ld[0], lv[0]};
    barrier(CLK_LOCAL_MEM_FENCE);  // the scratch may be reused by the caller's next row
    return merged;
}

// Writes the statistics of the group's row (work-item 0) and returns its merged state to all.
inline row_state group_row_statistics(const row_batch *batch, long row, __local ACC *scratch) {
    const long base = row_base(batch, row);
    const row_state st = group_scan_row(
        batch->logits + base, batch->probabilities + ((batch->o.flags & XENT_HAS_PROBABILITIES) ? base : 0),
        batch->weight, batch->o.classes, batch->o.inner, batch->o.flags, smoothing_qa(batch), smoothing_qb(batch), scratch);
    if (get_local_id(0) == 0) {
        write_row_statistics(batch, row, base, st, log(st.s));
    }
    return st;
}

__kernel __attribute__((reqd_work_group_size(XENT_GROUP, 1, 1))) void row_statistics_group(ROW_KERNEL_PARAMETERS) {
    const row_batch batch = ROW_BATCH;
    __local ACC scratch[4 * XENT_GROUP];
    group_row_statistics(&batch, get_group_id(0), scratch);
}

// The group's share of row `row`'s output: out_c = a * exp(x_c - lse) - b * v_c - (c == y ? t : 0) for a
// gradient or softmax (zeros with `zero`), x_c - lse for log-softmax.
inline void group_write_row(const row_batch *batch, long row, row_norm n, ACC a, ACC b, ACC t, long y, int zero) {
    const long classes = batch->o.classes, inner = batch->o.inner;
    const int flags = batch->o.flags, kind = batch->o.kind;
    const long base = row_base(batch, row);
    __global const STORAGE *x = batch->logits + base;
    __global OUT *out = batch->destination + base;
    __global const STORAGE *q = batch->probabilities + ((flags & XENT_HAS_PROBABILITIES) ? base : 0);
    const ACC qa = smoothing_qa(batch), qb = smoothing_qb(batch);
    const int weights = (kind == XENT_OUTPUT_GRADIENT) ? (flags & (XENT_HAS_WEIGHT | XENT_HAS_PROBABILITIES)) : 0;
    for (long c = get_local_id(0); c < classes; c += XENT_GROUP) {
        const ACC xm = (LOADX(x + c * inner) - n.max) - n.log_sum;
        ACC value;
        if (kind == XENT_OUTPUT_LOG_SOFTMAX) {
            value = xm;
        } else if (zero) {
            value = 0;
        } else {
            value = a * exp(xm);
            if (b != 0) {
                value -= b * element_weight(q, batch->weight, weights, c * inner, c, qa, qb);
            }
            if (c == y) {
                value -= t;
            }
#ifdef XENT_SOFTCAP
            value *= SOFTCAP_FACTOR(LOADX(x + c * inner));
#endif
        }
        STORE(value, out + c * inner);
    }
}

__kernel __attribute__((reqd_work_group_size(XENT_GROUP, 1, 1))) void row_outputs_group(ROW_KERNEL_PARAMETERS) {
    const row_batch batch = ROW_BATCH;
    const long classes = options.classes;
    const int flags = options.flags;
    __local ACC scratch[4 * XENT_GROUP];
    const long row = get_group_id(0);
    const row_state st = group_row_statistics(&batch, row, scratch);
    const row_norm n = {st.m, log(st.s)};
    ACC a = 1, b = 0, t = 0;
    long y = -1;
    int zero = 0;
    if (options.kind == XENT_OUTPUT_GRADIENT) {
        gradient_coefficients k = {0, 0, 0};
        if (flags & XENT_HAS_PROBABILITIES) {
            k = probability_gradient(&batch, row, st.v, n.max + n.log_sum);  // st.v: the row's mass
        } else {
            y = targets[row];
            zero = y == options.ignore_index || y < 0 || y >= classes;
            if (!zero) {
                const ACC wy = (flags & XENT_HAS_WEIGHT) ? weight[y] : (ACC)1;
                k = class_index_gradient(&batch, row, wy, n.max + n.log_sum);
            }
        }
        a = k.a;
        b = k.b;
        t = k.t;
    }
    group_write_row(&batch, row, n, a, b, t, y, zero);
}

// Loss gradients from given logsumexps and coefficients (XENT_GIVEN_GRADIENT), read from each row's
// statistics slots: a slice of the classes whose statistics were merged with the other slices'. A target
// outside the row's classes has no target term.
__kernel __attribute__((reqd_work_group_size(XENT_GROUP, 1, 1))) void row_given_gradient_group(ROW_KERNEL_PARAMETERS) {
    const row_batch batch = ROW_BATCH;
    const long row = get_group_id(0);
    __global const ACC *given = stats + XENT_STAT_COUNT * row;
    const row_norm n = {given[XENT_GIVEN_MAX], given[XENT_GIVEN_LOG_SUM]};
    const long y = (options.flags & XENT_HAS_PROBABILITIES) ? -1 : targets[row];
    group_write_row(&batch, row, n, given[XENT_GIVEN_A], given[XENT_GIVEN_B], given[XENT_GIVEN_T], y, 0);
}
