// The row kernels built for x86-64-v4, the AVX-512 level (see RowKernelsByISA.h).
#include "RowKernelsByISA.h"

#if defined(__x86_64__)
#pragma clang attribute push(XENT_TARGET_V4, apply_to = function)
#define XENT_ISA v4
#define XENT_AVX512 1
#include "RowKernelsForISA.inc.h"
#pragma clang attribute pop
#endif
