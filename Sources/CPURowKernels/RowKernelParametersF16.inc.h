// The input parameters of the row-kernel template RowKernel.inc.h for half-precision logits, accumulated in float: every one of them (see
// the list there) is defined here or in the file included here, and RowKernelParametersEnd.inc.h undefines them.
#define STORAGE_NAME f16
#define STORAGE _Float16
#define WIDEN(v) ((float)(v))
#define LOAD xent_load_f16
#include "RowKernelParametersFloatAccumulation.inc.h"
