// Ends the output parameters of RowKernel.inc.h that one of RowKernelOutput{F16,BF16,F32,F64}.inc.h defined.
#undef OUT_NAME
#undef OUT
#undef STORE
#undef STREAM
#undef NARROW
