// The input parameters of the row-kernel template RowKernel.inc.h for float logits: every one of them (see
// the list there) is defined here or in the file included here, and RowKernelParametersEnd.inc.h undefines them.
#define STORAGE_NAME f32
#define STORAGE float
#define WIDEN(v) (v)
#define LOAD xent_load_f32
#include "RowKernelParametersFloatAccumulation.inc.h"
