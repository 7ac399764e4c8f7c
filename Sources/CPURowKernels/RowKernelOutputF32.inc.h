// The output parameters of the row-kernel template RowKernel.inc.h for outputs stored as float: OUT,
// OUT_NAME, STORE, STREAM and NARROW (see the list there); RowKernelOutputEnd.inc.h undefines them.
#define OUT_NAME f32
#define OUT float
#define STORE xent_store_f32
#define STREAM xent_stream_f32
#define NARROW(v) ((float)(v))
