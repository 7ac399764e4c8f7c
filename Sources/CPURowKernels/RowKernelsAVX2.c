// The row kernels built for x86-64-v3, the AVX2 and FMA level (see RowKernelsByISA.h).
#include "RowKernelsByISA.h"

#if defined(__x86_64__)
#pragma clang attribute push(XENT_TARGET_V3, apply_to = function)
#define XENT_ISA v3
#define XENT_AVX512 0
#include "RowKernelsForISA.inc.h"
#pragma clang attribute pop
#endif
