// The row kernels built for the baseline of the target architecture (see RowKernelsByISA.h).
#include "RowKernelsByISA.h"

#define XENT_ISA baseline
#define XENT_AVX512 0
#include "RowKernelsForISA.inc.h"
