// The accumulation parameters of the row-kernel template RowKernel.inc.h shared by the storage types
// accumulated in float (RowKernelParameters{F16,BF16,F32}.inc.h include them):
// 16 float lanes and the float vector math.
#define ACC float
#define ACC_NAME f32
#define VEC xent_vf
#define LANES 16
#define VEXP XENT_EXP_VF
#define VEXP_SUM XENT_EXP_SUM_VF
#define TRANSPOSE XENT_TRANSPOSE16
#define VLOG xent_log_vf
#define VTANH xent_tanh_vf
#define VMAX xent_max_vf
#define SEXP expf
#define SLOG logf
#define LOWEST (-FLT_MAX)
#define HSUM xent_sum_vf
#define HMAX xent_hmax_vf
#define IOTA ((xent_vf){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
#define VECD xent_vd16
#define VEC_MASK xent_vi
