// Row-wise cross-entropy primitives in work-groups of XENT_GROUP work-items (the family for GPUs). Built
// after the contract header and cross_entropy_rows.cl, whose types, flags and helpers (the gradient's
// coefficients among them) it uses.
//
// A row, or a slice of one, is read by a team of `team` work-items (a power of two dividing XENT_GROUP),
// each folding its share into its own online (max, sum) state; the team's states are merged by a tree
// in local memory with the same associative operator as everywhere else:
//   (m1, s1) + (m2, s2) = (max, s1 e^(m1 - max) + s2 e^(m2 - max)).
// On contiguous rows a work-item loads XENT_VEC classes at a time and consecutive work-items read
// consecutive vectors; strided rows (K-dimensional logits) take teams of one, so that neighbouring
// work-items read neighbouring rows' addresses. The host's plan (GroupPlan) maps rows to work per launch:
// - teams: XENT_GROUP / team rows per work-group, short rows sharing a group and long rows taking all of
//   it (row_statistics_group, row_outputs_group). When the group's rows fit in local memory, the outputs
//   are computed from the copy kept there while reading (`cached`): one read of the logits and one write.
// - split rows: few long rows leave most work-groups of a device idle, so each row is cut into `parts`
//   slices of one work-group each (row_partials_group), the slices' states are merged per row
//   (row_merge_partials), and the outputs are written slice by slice (row_outputs_from_norms_group).
//
// Compile-time option (part of the program cache key): XENT_GROUP, the work-group size, a power of two.

// The lane's share of classes [first, last) of the row at x (classes `stride` apart; q its probabilities,
// w the class weights): on contiguous rows the vectors from first + lane * XENT_VEC, team vectors apart,
// then the elements past the last whole vector, team apart; on strided rows the elements from first +
// lane, team apart. With `keep`, each value read (soft-capped) is also stored at its class in `cache`.
inline row_state lane_scan(__global const STORAGE *x, __global const STORAGE *q, __global const ACC *w, long first,
                           long last, long stride, int flags, ACC qa, ACC qb, int lane, int team, int keep,
                           __local ACC *cache) {
    const int smooth = (flags & XENT_ACCUMULATE_SMOOTH) != 0;
    row_state st = {LOWEST, 0, 0, 0};
    long c = first + lane;
    if (stride == 1) {
        const long step = (long)team * XENT_VEC;
        lane_states lanes = empty_lanes();
        long v = first + (long)lane * XENT_VEC;
        if (!smooth) {
            // Four vectors a step: one rescaling of the sums per four exps.
            for (; v + 3 * step + XENT_VEC <= last; v += 4 * step) {
                const VEC x0 = LOADX_VEC(x + v), x1 = LOADX_VEC(x + v + step), x2 = LOADX_VEC(x + v + 2 * step),
                          x3 = LOADX_VEC(x + v + 3 * step);
                if (keep) {
                    CAT(vstore, XENT_VEC)(x0, 0, cache + v);
                    CAT(vstore, XENT_VEC)(x1, 0, cache + v + step);
                    CAT(vstore, XENT_VEC)(x2, 0, cache + v + 2 * step);
                    CAT(vstore, XENT_VEC)(x3, 0, cache + v + 3 * step);
                }
                const VEC mn = fmax(lanes.m, fmax(fmax(x0, x1), fmax(x2, x3)));
                lanes.s = lanes.s * exp(lanes.m - mn) + ((exp(x0 - mn) + exp(x1 - mn)) + (exp(x2 - mn) + exp(x3 - mn)));
                lanes.m = mn;
            }
        }
        for (; v + XENT_VEC <= last; v += step) {
            const VEC xv = LOADX_VEC(x + v);
            if (keep) {
                CAT(vstore, XENT_VEC)(xv, 0, cache + v);
            }
            push_vector(&lanes, xv, smooth ? vector_weight(q, w, flags, v, qa, qb) : (VEC)0, smooth);
        }
        merge_lanes(&st, lanes, smooth);
        c = first + (last - first) / XENT_VEC * XENT_VEC + lane;
    }
    for (; c < last; c += team) {
        const ACC xc = LOADX(x + c * stride);
        if (keep) {
            cache[c] = xc;
        }
        push(&st, xc, smooth ? element_weight(q, w, flags, c * stride, c, qa, qb) : 0, smooth);
    }
    return st;
}

// The merged state of each team's row, in every work-item of the team; `scratch` holds 4 * XENT_GROUP
// values. Every work-item of the group calls it (it has barriers) with the same team.
inline row_state team_merge(row_state st, int smooth, int lane, int team, __local ACC *scratch) {
    const int lid = get_local_id(0);
    __local ACC *lm = scratch, *ls = scratch + XENT_GROUP, *ld = scratch + 2 * XENT_GROUP,
                *lv = scratch + 3 * XENT_GROUP;
    lm[lid] = st.m;
    ls[lid] = st.s;
    ld[lid] = st.d;
    lv[lid] = st.v;
    for (int offset = team / 2; offset > 0; offset >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lane < offset) {
            const row_state other = {lm[lid + offset], ls[lid + offset], ld[lid + offset], lv[lid + offset]};
            merge_states(&st, other, smooth);
            lm[lid] = st.m;
            ls[lid] = st.s;
            ld[lid] = st.d;
            lv[lid] = st.v;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int leader = lid - lane;
    const row_state merged = {lm[leader], ls[leader], ld[leader], lv[leader]};
    barrier(CLK_LOCAL_MEM_FENCE);  // the scratch may be reused
    return merged;
}

// The lane's share (as lane_scan's) of the outputs of classes [first, last) of row `row`, from its logits
// or, when `cached`, from the copy lane_scan kept in `cache`. `out` may be the logits (in place).
inline void lane_write(const row_batch *batch, long row, long first, long last, row_norm n, output_terms p, int lane,
                       int team, int cached, __local const ACC *cache) {
    const long stride = batch->o.inner;
    const int flags = batch->o.flags, kind = batch->o.kind;
    const long base = row_base(batch, row);
    __global const STORAGE *x = batch->logits + base;
    __global OUT *out = batch->destination + base;
    __global const STORAGE *q = batch->probabilities + ((flags & XENT_HAS_PROBABILITIES) ? base : 0);
    const ACC qa = smoothing_qa(batch), qb = smoothing_qb(batch);
    const int weights = (kind == XENT_OUTPUT_GRADIENT) ? (flags & (XENT_HAS_WEIGHT | XENT_HAS_PROBABILITIES)) : 0;
    long c = first + lane;
    if (stride == 1) {
        for (long v = first + (long)lane * XENT_VEC; v + XENT_VEC <= last; v += (long)team * XENT_VEC) {
            const VEC xv = cached ? CAT(vload, XENT_VEC)(0, cache + v) : LOADX_VEC(x + v);
            VEC value;
            if (kind == XENT_OUTPUT_LOG_SOFTMAX) {
                value = (xv - n.max) - n.log_sum;
            } else if (p.zero) {
                value = (VEC)0;
            } else {
                value = p.a * EXP_OUTPUT((xv - n.max) - n.log_sum);
                if (p.b != 0) {
                    value -= p.b * vector_weight(q, batch->weight, weights, v, qa, qb);
                }
                value = minus_target(value, v, p.y, p.t);
#ifdef XENT_SOFTCAP
                value *= SOFTCAP_FACTOR(xv);
#endif
            }
            STORE_VEC(value, out + v);
        }
        c = first + (last - first) / XENT_VEC * XENT_VEC + lane;
    }
    for (; c < last; c += team) {
        const ACC xc = cached ? cache[c] : LOADX(x + c * stride);
        ACC value;
        if (kind == XENT_OUTPUT_LOG_SOFTMAX) {
            value = (xc - n.max) - n.log_sum;
        } else if (p.zero) {
            value = 0;
        } else {
            value = p.a * exp((xc - n.max) - n.log_sum);
            if (p.b != 0) {
                value -= p.b * element_weight(q, batch->weight, weights, c * stride, c, qa, qb);
            }
            if (c == p.y) {
                value -= p.t;
            }
#ifdef XENT_SOFTCAP
            value *= SOFTCAP_FACTOR(xc);
#endif
        }
        STORE(value, out + c * stride);
    }
}

// The work-item's lane in its team of `team` (a power of two), and its team's slot in the group. (A
// remainder beside a division makes LLVM `freeze` its operand, which Oclgrind cannot run.)
inline int team_lane(int team) { return get_local_id(0) & (team - 1); }
inline int team_slot(int team) { return get_local_id(0) / team; }

// Each team's row of the group: its statistics and, with `outputs`, its outputs (from `row_cache`, the
// group's rows one after another, each padded to whole vectors, when `cached`).
inline void team_rows(const row_batch *batch, int team, int outputs, int cached, __local ACC *scratch,
                      __local ACC *row_cache) {
    const int lane = team_lane(team), slot = team_slot(team);
    const long row = get_group_id(0) * (XENT_GROUP / team) + slot;
    const int valid = row < batch->rows;  // every work-item meets the barriers, of a row or not
    const long classes = batch->o.classes;
    const int flags = batch->o.flags, smooth = (flags & XENT_ACCUMULATE_SMOOTH) != 0;
    const long base = valid ? row_base(batch, row) : 0;
    __local ACC *cache = row_cache + slot * ((classes + XENT_VEC - 1) / XENT_VEC * XENT_VEC);
    row_state st = {LOWEST, 0, 0, 0};
    if (valid) {
        st = lane_scan(batch->logits + base, batch->probabilities + ((flags & XENT_HAS_PROBABILITIES) ? base : 0),
                       batch->weight, 0, classes, batch->o.inner, flags, smoothing_qa(batch), smoothing_qb(batch),
                       lane, team, cached, cache);
    }
    st = team_merge(st, smooth, lane, team, scratch);
    const row_norm n = {st.m, log(st.s)};
    if (valid && lane == 0) {
        write_row_statistics(batch, row, base, st, n.log_sum);
    }
    if (!outputs) {
        return;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);  // in place, the statistics' reads of the row come before its outputs
    if (valid) {
        lane_write(batch, row, 0, classes, n, row_output_terms(batch, row, st.v, n), lane, team, cached, cache);
    }
}

__kernel __attribute__((reqd_work_group_size(XENT_GROUP, 1, 1))) void row_statistics_group(ROW_KERNEL_PARAMETERS,
                                                                                           long team) {
    const row_batch batch = ROW_BATCH;
    __local ACC scratch[4 * XENT_GROUP];
    team_rows(&batch, (int)team, 0, 0, scratch, scratch);
}

// Statistics and outputs, from the rows kept in `row_cache` when `cached` (else it is unused).
__kernel __attribute__((reqd_work_group_size(XENT_GROUP, 1, 1))) void row_outputs_group(ROW_KERNEL_PARAMETERS,
                                                                                        long team, long cached,
                                                                                        __local ACC *row_cache) {
    const row_batch batch = ROW_BATCH;
    __local ACC scratch[4 * XENT_GROUP];
    team_rows(&batch, (int)team, 1, (int)cached, scratch, row_cache);
}

// Slice `part` of `parts` of a row's classes: whole vectors each, the last one shorter or empty.
inline void slice_bounds(long classes, long parts, long part, long *first, long *last) {
    const long length = ((classes + parts - 1) / parts + XENT_VEC - 1) / XENT_VEC * XENT_VEC;
    *first = min(classes, part * length);
    *last = min(classes, *first + length);
}

// Split rows, first step, over work-groups (part, row) of a 2-D range: each folds slice `part` of `row`
// (contiguous rows) into its state (max, sum, deviation sum, mass), written to `partials` at
// (row * parts + part) * 4.
__kernel __attribute__((reqd_work_group_size(XENT_GROUP, 1, 1))) void row_partials_group(
    ROW_KERNEL_PARAMETERS, long parts, __global ACC *partials) {
    const row_batch batch = ROW_BATCH;
    __local ACC scratch[4 * XENT_GROUP];
    const long part = get_group_id(0), row = get_group_id(1);
    const int lid = get_local_id(0), flags = options.flags;
    long first, last;
    slice_bounds(options.classes, parts, part, &first, &last);
    const long base = row_base(&batch, row);
    row_state st = lane_scan(logits + base, probabilities + ((flags & XENT_HAS_PROBABILITIES) ? base : 0), weight,
                             first, last, 1, flags, smoothing_qa(&batch), smoothing_qb(&batch), lid, XENT_GROUP, 0,
                             scratch);
    st = team_merge(st, (flags & XENT_ACCUMULATE_SMOOTH) != 0, lid, XENT_GROUP, scratch);
    if (lid == 0) {
        __global ACC *slot = partials + 4 * (row * parts + part);
        slot[0] = st.m;
        slot[1] = st.s;
        slot[2] = st.d;
        slot[3] = st.v;
    }
}

// Where a row's output terms are kept between launches: XENT_STAT_COUNT values per row, the slots of
// given values (XENT_GIVEN_MAX ... XENT_GIVEN_T) and then `zero` (1 for a row whose outputs are zeros),
// so that given gradients (XENT_GIVEN_GRADIENT, whose statistics buffer holds zero there) read alike.
#define NORM_ZERO XENT_GIVEN_COUNT

// Split rows, second step: one work-item per row merges its slices' states, writes its statistics and
// keeps its output terms in `norms`.
__kernel void row_merge_partials(ROW_KERNEL_PARAMETERS, long parts, __global const ACC *partials,
                                 __global ACC *norms) {
    const row_batch batch = ROW_BATCH;
    const long row = get_global_id(0);
    if (row >= rows) {
        return;
    }
    row_state st = {LOWEST, 0, 0, 0};
    for (long part = 0; part < parts; part++) {
        __global const ACC *slot = partials + 4 * (row * parts + part);
        const row_state other = {slot[0], slot[1], slot[2], slot[3]};
        merge_states(&st, other, (options.flags & XENT_ACCUMULATE_SMOOTH) != 0);
    }
    const row_norm n = {st.m, log(st.s)};
    write_row_statistics(&batch, row, row_base(&batch, row), st, n.log_sum);
    const output_terms terms = row_output_terms(&batch, row, st.v, n);
    __global ACC *kept = norms + XENT_STAT_COUNT * row;
    kept[XENT_GIVEN_MAX] = n.max;
    kept[XENT_GIVEN_LOG_SUM] = n.log_sum;
    kept[XENT_GIVEN_A] = terms.a;
    kept[XENT_GIVEN_B] = terms.b;
    kept[XENT_GIVEN_T] = terms.t;
    kept[NORM_ZERO] = terms.zero;
}

// Outputs from output terms kept in `norms` (row_merge_partials's, or the given ones of
// XENT_GIVEN_GRADIENT in the statistics buffer), over work-groups (part, g) of a 2-D range: slice `part`
// of `parts` of XENT_GROUP / team rows from g * XENT_GROUP / team, a team each (split rows: one row, all
// of the group). No statistics are read or written.
__kernel __attribute__((reqd_work_group_size(XENT_GROUP, 1, 1))) void row_outputs_from_norms_group(
    ROW_KERNEL_PARAMETERS, long team, long parts, __global const ACC *norms) {
    const row_batch batch = ROW_BATCH;
    const int lane = team_lane((int)team);
    const long row = get_group_id(1) * (XENT_GROUP / team) + team_slot((int)team);
    if (row >= rows) {
        return;
    }
    __global const ACC *kept = norms + XENT_STAT_COUNT * row;
    const row_norm n = {kept[XENT_GIVEN_MAX], kept[XENT_GIVEN_LOG_SUM]};
    const output_terms terms = {kept[XENT_GIVEN_A], kept[XENT_GIVEN_B], kept[XENT_GIVEN_T],
                                (options.flags & XENT_HAS_PROBABILITIES) ? -1 : targets[row], kept[NORM_ZERO] != 0};
    long first, last;
    slice_bounds(options.classes, parts, get_group_id(0), &first, &last);
    lane_write(&batch, row, first, last, n, terms, lane, (int)team, 0, (__local const ACC *)0);
}
