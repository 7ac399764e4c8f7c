#ifndef COPENCL_SHIM_H
#define COPENCL_SHIM_H

// The host layer speaks the OpenCL 1.2 API, which every driver we target (PoCL, NVIDIA, AMD, Intel) offers.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#endif
