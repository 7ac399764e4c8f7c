// The input parameters of the row-kernel template RowKernel.inc.h for double logits, accumulated in double: every one of them (see
// the list there) is defined here, and RowKernelParametersEnd.inc.h undefines them.
#define STORAGE_NAME f64
#define STORAGE double
#define WIDEN(v) (v)
#define LOAD xent_load_f64
#define ACC double
#define ACC_NAME f64
#define VEC xent_vd
#define LANES 8
#define VEXP xent_exp_vd
#define VEXP_SUM xent_exp_vd
#define TRANSPOSE XENT_TRANSPOSE8
#define VLOG xent_log_vd
#define VMAX xent_max_vd
#define SEXP exp
#define SLOG log
#define LOWEST (-DBL_MAX)
#define HSUM xent_sum_vd
#define HMAX xent_hmax_vd
#define IOTA ((xent_vd){0, 1, 2, 3, 4, 5, 6, 7})
#define VECD xent_vd
#define VEC_MASK xent_vl
