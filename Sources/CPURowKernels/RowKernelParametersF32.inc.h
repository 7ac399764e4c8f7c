// The parameters of the row-kernel template RowKernel.inc.h for float storage: every one of
// them (see the list there) is defined here or in the file included here, and
// RowKernelParametersEnd.inc.h undefines them.
#define SUFFIX XENT_ISA_NAME(f32, XENT_ISA)
#define STORAGE float
#define LOAD xent_load_f32
#define STORE xent_store_f32
#include "RowKernelParametersFloatAccumulation.inc.h"
