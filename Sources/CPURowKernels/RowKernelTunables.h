#ifndef CPU_ROW_KERNELS_ROW_KERNEL_TUNABLES_H
#define CPU_ROW_KERNELS_ROW_KERNEL_TUNABLES_H

// The C row kernels' own tunables. Those that decide a row's path, which the host and the OpenCL
// kernels must agree on, are in the contract header.

#include "xent_contract.h"

// Loops over a row that fits in cache fetch the next row into L1 as they go, and the lines this far
// beyond that into L2: one fetch alone, issued a row ahead, arrives too late for rows of a few KiB.
#define XENT_FAR_PREFETCH_BYTES 8192

// What the fused gradient of the C fallback takes (see xent_gradient_path): rows with smoothing sums,
// rows of any size that fit in cache, and half precision (its scratch is of the accumulation type and
// its streamed stores of the outputs' type).
#define XENT_C_FUSES (XENT_FUSES_GRADIENT | XENT_FUSES_SMOOTHING | XENT_FUSES_HALF | XENT_FUSES_SHORT_ROWS)

#endif
