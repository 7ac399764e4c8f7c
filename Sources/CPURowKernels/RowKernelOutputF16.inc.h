// The output parameters of the row-kernel template RowKernel.inc.h for outputs stored as half precision: OUT,
// OUT_NAME, STORE, STREAM and NARROW (see the list there); RowKernelOutputEnd.inc.h undefines them.
#define OUT_NAME f16
#define OUT _Float16
#define STORE xent_store_f16
#define STREAM xent_stream_f16
#define NARROW(v) ((_Float16)(v))
