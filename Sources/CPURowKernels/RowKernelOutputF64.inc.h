// The output parameters of the row-kernel template RowKernel.inc.h for outputs stored as double: OUT,
// OUT_NAME, STORE, STREAM and NARROW (see the list there); RowKernelOutputEnd.inc.h undefines them.
#define OUT_NAME f64
#define OUT double
#define STORE xent_store_f64
#define STREAM xent_stream_f64
#define NARROW(v) ((double)(v))
