// The vector exp and log of one ISA build applied to arrays, for the accuracy tests (xent_vector_math_probe in
// CPURowKernels.h). Included at the end of RowKernelsForISA.inc.h, so that each build's probe runs the functions
// its kernels use: the AVX-512 exps in the AVX-512 build, xent_exp_vf and xent_exp_sum_vf in the others.

#if XENT_AVX512
#define XENT_PROBE_EXP xent_exp_avx512_vf
#define XENT_PROBE_EXP_SUM xent_exp_sum_avx512_vf
#else
#define XENT_PROBE_EXP xent_exp_vf
#define XENT_PROBE_EXP_SUM xent_exp_sum_vf
#endif

void XENT_ISA_NAME(xent_vector_math_probe, XENT_ISA)(xent_vector_function function, const float *x, float *y,
                                                     int64_t count) {
    for (int64_t i = 0; i < count; i += 16) {
        const int64_t lanes = count - i < 16 ? count - i : 16;
        float in[16], out[16];
        for (int lane = 0; lane < 16; lane++) {
            in[lane] = x[i + (lane < lanes ? lane : 0)];  // a short last vector is padded with its first value
        }
        xent_vf v = xent_load_f32(in);
        switch (function) {
        case XENT_VECTOR_EXP:
            v = XENT_PROBE_EXP(v);
            break;
        case XENT_VECTOR_EXP_SUM:
            v = XENT_PROBE_EXP_SUM(v);
            break;
        case XENT_VECTOR_LOG:
            v = xent_log_vf(v);
            break;
        case XENT_VECTOR_TANH:
            v = xent_tanh_vf(v);
            break;
        }
        xent_store_f32(out, v);
        memcpy(y + i, out, (size_t)lanes * sizeof(float));
    }
}

void XENT_ISA_NAME(xent_vector_math_probe_f64, XENT_ISA)(const double *x, double *y, int64_t count) {
    for (int64_t i = 0; i < count; i += 8) {
        const int64_t lanes = count - i < 8 ? count - i : 8;
        double in[8], out[8];
        for (int lane = 0; lane < 8; lane++) {
            in[lane] = x[i + (lane < lanes ? lane : 0)];
        }
        xent_store_f64(out, xent_exp_vd(xent_load_f64(in)));
        memcpy(y + i, out, (size_t)lanes * sizeof(double));
    }
}

#undef XENT_PROBE_EXP
#undef XENT_PROBE_EXP_SUM
