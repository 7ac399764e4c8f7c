// The input parameters of the row-kernel template RowKernel.inc.h for bfloat16 logits, accumulated in float: every one of them (see
// the list there) is defined here or in the file included here, and RowKernelParametersEnd.inc.h undefines them.
#define STORAGE_NAME bf16
#define STORAGE xent_bf16
#define WIDEN(v) xent_widen_bf16(v)
#define LOAD xent_load_bf16
#include "RowKernelParametersFloatAccumulation.inc.h"
