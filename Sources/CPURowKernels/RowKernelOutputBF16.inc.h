// The output parameters of the row-kernel template RowKernel.inc.h for outputs stored as bfloat16: OUT,
// OUT_NAME, STORE, STREAM and NARROW (see the list there); RowKernelOutputEnd.inc.h undefines them.
#define OUT_NAME bf16
#define OUT xent_bf16
#define STORE xent_store_bf16
#define STREAM xent_stream_bf16
#define NARROW(v) xent_narrow_bf16(v)
