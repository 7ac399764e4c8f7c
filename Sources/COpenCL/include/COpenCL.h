#ifndef COPENCL_H
#define COPENCL_H

// The OpenCL 1.2 C API (the system's opencl-headers), which every driver we target (PoCL, NVIDIA, AMD,
// Intel) offers. Nothing links the OpenCL library: OpenCLRuntime.c defines these functions and opens the
// ICD loader (libOpenCL.so.1) on the first call, so that a machine without it runs the CPU fallback.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

/// Opens the OpenCL ICD loader if no call has yet, and returns why it could not be used (the library or
/// one of its functions missing), or NULL when it is loaded. The library is `libOpenCL.so.1`, or the
/// file named by the environment variable XENT_OPENCL_LIBRARY. Without it, every OpenCL function
/// returns CL_PLATFORM_NOT_FOUND_KHR (clGetPlatformIDs, with no platforms) or fails with it.
const char *xent_opencl_runtime_problem(void);

#endif
