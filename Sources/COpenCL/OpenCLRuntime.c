// The OpenCL functions the host layer calls, each forwarding to the ICD loader opened at run time
// (dlopen), so that the binary does not need libOpenCL.so.1 to start. Hidden, so that no library loaded
// later (the loader itself, a vendor's driver) binds its own calls to these definitions.

#include "COpenCL.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

#define XENT_HIDDEN __attribute__((visibility("hidden")))

// Every function forwarded: its name, for the pointer table and the lookups.
#define XENT_OPENCL_FUNCTIONS(F)                                                                          \
    F(clGetPlatformIDs)                                                                                   \
    F(clGetPlatformInfo)                                                                                  \
    F(clGetDeviceIDs)                                                                                     \
    F(clGetDeviceInfo)                                                                                    \
    F(clCreateContext)                                                                                    \
    F(clReleaseContext)                                                                                   \
    F(clCreateCommandQueue)                                                                               \
    F(clReleaseCommandQueue)                                                                              \
    F(clCreateBuffer)                                                                                     \
    F(clReleaseMemObject)                                                                                 \
    F(clCreateProgramWithSource)                                                                          \
    F(clBuildProgram)                                                                                     \
    F(clGetProgramBuildInfo)                                                                              \
    F(clReleaseProgram)                                                                                   \
    F(clCreateKernel)                                                                                     \
    F(clReleaseKernel)                                                                                    \
    F(clSetKernelArg)                                                                                     \
    F(clEnqueueNDRangeKernel)                                                                             \
    F(clEnqueueReadBuffer)                                                                                \
    F(clEnqueueWriteBuffer)                                                                               \
    F(clEnqueueFillBuffer)                                                                                \
    F(clFinish)                                                                                           \
    F(clWaitForEvents)                                                                                    \
    F(clGetEventProfilingInfo)                                                                            \
    F(clReleaseEvent)                                                                                     \
    F(clRetainContext)                                                                                    \
    F(clRetainCommandQueue)                                                                               \
    F(clRetainMemObject)                                                                                  \
    F(clGetContextInfo)                                                                                   \
    F(clGetCommandQueueInfo)                                                                              \
    F(clGetMemObjectInfo)                                                                                 \
    F(clCreateSubBuffer)                                                                                  \
    F(clEnqueueMapBuffer)                                                                                 \
    F(clEnqueueUnmapMemObject)                                                                            \
    F(clEnqueueBarrierWithWaitList)                                                                       \
    F(clGetKernelWorkGroupInfo)

#define XENT_POINTER_FIELD(name) __typeof__(&name) name;
static struct {
    XENT_OPENCL_FUNCTIONS(XENT_POINTER_FIELD)
} loaded;
#undef XENT_POINTER_FIELD

static char problem[512];
static int available;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void) {
    const char *named = getenv("XENT_OPENCL_LIBRARY");
    const char *path = named && *named ? named : "libOpenCL.so.1";
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *error = dlerror();
        snprintf(problem, sizeof problem, "the OpenCL runtime %s cannot be opened: %s", path,
                 error ? error : "unknown error");
        return;
    }
#define XENT_LOOK_UP(name)                                                                                \
    loaded.name = (__typeof__(&name))dlsym(library, #name);                                               \
    if (!loaded.name) {                                                                                   \
        snprintf(problem, sizeof problem, "the OpenCL runtime %s has no %s", path, #name);                \
        return;                                                                                           \
    }
    XENT_OPENCL_FUNCTIONS(XENT_LOOK_UP)
#undef XENT_LOOK_UP
    available = 1;
}

const char *xent_opencl_runtime_problem(void) {
    pthread_once(&load_once, load);
    return available ? NULL : problem;
}

static int runtime_loaded(void) { return xent_opencl_runtime_problem() == NULL; }

// A function that returns a status: CL_PLATFORM_NOT_FOUND_KHR without the runtime.
#define XENT_FORWARD_STATUS(name, parameters, arguments)                                                  \
    XENT_HIDDEN CL_API_ENTRY cl_int CL_API_CALL name parameters {                                         \
        return runtime_loaded() ? loaded.name arguments : CL_PLATFORM_NOT_FOUND_KHR;                      \
    }
// A function that makes an object: NULL with *errcode_ret = CL_PLATFORM_NOT_FOUND_KHR without the runtime.
#define XENT_FORWARD_OBJECT(type, name, parameters, arguments)                                            \
    XENT_HIDDEN CL_API_ENTRY type CL_API_CALL name parameters {                                           \
        if (runtime_loaded()) {                                                                           \
            return loaded.name arguments;                                                                 \
        }                                                                                                 \
        if (errcode_ret) {                                                                                \
            *errcode_ret = CL_PLATFORM_NOT_FOUND_KHR;                                                     \
        }                                                                                                 \
        return NULL;                                                                                      \
    }

XENT_HIDDEN CL_API_ENTRY cl_int CL_API_CALL clGetPlatformIDs(cl_uint num_entries, cl_platform_id *platforms,
                                                             cl_uint *num_platforms) {
    if (!runtime_loaded()) {
        if (num_platforms) {
            *num_platforms = 0;
        }
        return CL_PLATFORM_NOT_FOUND_KHR;
    }
    return loaded.clGetPlatformIDs(num_entries, platforms, num_platforms);
}

XENT_FORWARD_STATUS(clGetPlatformInfo,
                    (cl_platform_id platform, cl_platform_info param_name, size_t param_value_size,
                     void *param_value, size_t *param_value_size_ret),
                    (platform, param_name, param_value_size, param_value, param_value_size_ret))
XENT_FORWARD_STATUS(clGetDeviceIDs,
                    (cl_platform_id platform, cl_device_type device_type, cl_uint num_entries, cl_device_id *devices,
                     cl_uint *num_devices),
                    (platform, device_type, num_entries, devices, num_devices))
XENT_FORWARD_STATUS(clGetDeviceInfo,
                    (cl_device_id device, cl_device_info param_name, size_t param_value_size, void *param_value,
                     size_t *param_value_size_ret),
                    (device, param_name, param_value_size, param_value, param_value_size_ret))
XENT_FORWARD_OBJECT(cl_context, clCreateContext,
                    (const cl_context_properties *properties, cl_uint num_devices, const cl_device_id *devices,
                     void(CL_CALLBACK *pfn_notify)(const char *errinfo, const void *private_info, size_t cb,
                                                   void *user_data),
                     void *user_data, cl_int *errcode_ret),
                    (properties, num_devices, devices, pfn_notify, user_data, errcode_ret))
XENT_FORWARD_STATUS(clReleaseContext, (cl_context context), (context))
XENT_FORWARD_OBJECT(cl_command_queue, clCreateCommandQueue,
                    (cl_context context, cl_device_id device, cl_command_queue_properties properties,
                     cl_int *errcode_ret),
                    (context, device, properties, errcode_ret))
XENT_FORWARD_STATUS(clReleaseCommandQueue, (cl_command_queue command_queue), (command_queue))
XENT_FORWARD_OBJECT(cl_mem, clCreateBuffer,
                    (cl_context context, cl_mem_flags flags, size_t size, void *host_ptr, cl_int *errcode_ret),
                    (context, flags, size, host_ptr, errcode_ret))
XENT_FORWARD_STATUS(clReleaseMemObject, (cl_mem memobj), (memobj))
XENT_FORWARD_OBJECT(cl_program, clCreateProgramWithSource,
                    (cl_context context, cl_uint count, const char **strings, const size_t *lengths,
                     cl_int *errcode_ret),
                    (context, count, strings, lengths, errcode_ret))
XENT_FORWARD_STATUS(clBuildProgram,
                    (cl_program program, cl_uint num_devices, const cl_device_id *device_list, const char *options,
                     void(CL_CALLBACK *pfn_notify)(cl_program program, void *user_data), void *user_data),
                    (program, num_devices, device_list, options, pfn_notify, user_data))
XENT_FORWARD_STATUS(clGetProgramBuildInfo,
                    (cl_program program, cl_device_id device, cl_program_build_info param_name,
                     size_t param_value_size, void *param_value, size_t *param_value_size_ret),
                    (program, device, param_name, param_value_size, param_value, param_value_size_ret))
XENT_FORWARD_STATUS(clReleaseProgram, (cl_program program), (program))
XENT_FORWARD_OBJECT(cl_kernel, clCreateKernel, (cl_program program, const char *kernel_name, cl_int *errcode_ret),
                    (program, kernel_name, errcode_ret))
XENT_FORWARD_STATUS(clReleaseKernel, (cl_kernel kernel), (kernel))
XENT_FORWARD_STATUS(clSetKernelArg, (cl_kernel kernel, cl_uint arg_index, size_t arg_size, const void *arg_value),
                    (kernel, arg_index, arg_size, arg_value))
XENT_FORWARD_STATUS(clEnqueueNDRangeKernel,
                    (cl_command_queue command_queue, cl_kernel kernel, cl_uint work_dim,
                     const size_t *global_work_offset, const size_t *global_work_size, const size_t *local_work_size,
                     cl_uint num_events_in_wait_list, const cl_event *event_wait_list, cl_event *event),
                    (command_queue, kernel, work_dim, global_work_offset, global_work_size, local_work_size,
                     num_events_in_wait_list, event_wait_list, event))
XENT_FORWARD_STATUS(clEnqueueReadBuffer,
                    (cl_command_queue command_queue, cl_mem buffer, cl_bool blocking_read, size_t offset, size_t size,
                     void *ptr, cl_uint num_events_in_wait_list, const cl_event *event_wait_list, cl_event *event),
                    (command_queue, buffer, blocking_read, offset, size, ptr, num_events_in_wait_list,
                     event_wait_list, event))
XENT_FORWARD_STATUS(clEnqueueWriteBuffer,
                    (cl_command_queue command_queue, cl_mem buffer, cl_bool blocking_write, size_t offset,
                     size_t size, const void *ptr, cl_uint num_events_in_wait_list, const cl_event *event_wait_list,
                     cl_event *event),
                    (command_queue, buffer, blocking_write, offset, size, ptr, num_events_in_wait_list,
                     event_wait_list, event))
XENT_FORWARD_STATUS(clEnqueueFillBuffer,
                    (cl_command_queue command_queue, cl_mem buffer, const void *pattern, size_t pattern_size,
                     size_t offset, size_t size, cl_uint num_events_in_wait_list, const cl_event *event_wait_list,
                     cl_event *event),
                    (command_queue, buffer, pattern, pattern_size, offset, size, num_events_in_wait_list,
                     event_wait_list, event))
XENT_FORWARD_STATUS(clFinish, (cl_command_queue command_queue), (command_queue))
XENT_FORWARD_STATUS(clWaitForEvents, (cl_uint num_events, const cl_event *event_list), (num_events, event_list))
XENT_FORWARD_STATUS(clGetEventProfilingInfo,
                    (cl_event event, cl_profiling_info param_name, size_t param_value_size, void *param_value,
                     size_t *param_value_size_ret),
                    (event, param_name, param_value_size, param_value, param_value_size_ret))
XENT_FORWARD_STATUS(clReleaseEvent, (cl_event event), (event))
XENT_FORWARD_STATUS(clRetainContext, (cl_context context), (context))
XENT_FORWARD_STATUS(clRetainCommandQueue, (cl_command_queue command_queue), (command_queue))
XENT_FORWARD_STATUS(clRetainMemObject, (cl_mem memobj), (memobj))
XENT_FORWARD_STATUS(clGetContextInfo,
                    (cl_context context, cl_context_info param_name, size_t param_value_size, void *param_value,
                     size_t *param_value_size_ret),
                    (context, param_name, param_value_size, param_value, param_value_size_ret))
XENT_FORWARD_STATUS(clGetCommandQueueInfo,
                    (cl_command_queue command_queue, cl_command_queue_info param_name, size_t param_value_size,
                     void *param_value, size_t *param_value_size_ret),
                    (command_queue, param_name, param_value_size, param_value, param_value_size_ret))
XENT_FORWARD_STATUS(clGetMemObjectInfo,
                    (cl_mem memobj, cl_mem_info param_name, size_t param_value_size, void *param_value,
                     size_t *param_value_size_ret),
                    (memobj, param_name, param_value_size, param_value, param_value_size_ret))
XENT_FORWARD_OBJECT(cl_mem, clCreateSubBuffer,
                    (cl_mem buffer, cl_mem_flags flags, cl_buffer_create_type buffer_create_type,
                     const void *buffer_create_info, cl_int *errcode_ret),
                    (buffer, flags, buffer_create_type, buffer_create_info, errcode_ret))
XENT_FORWARD_OBJECT(void *, clEnqueueMapBuffer,
                    (cl_command_queue command_queue, cl_mem buffer, cl_bool blocking_map, cl_map_flags map_flags,
                     size_t offset, size_t size, cl_uint num_events_in_wait_list, const cl_event *event_wait_list,
                     cl_event *event, cl_int *errcode_ret),
                    (command_queue, buffer, blocking_map, map_flags, offset, size, num_events_in_wait_list,
                     event_wait_list, event, errcode_ret))
XENT_FORWARD_STATUS(clEnqueueUnmapMemObject,
                    (cl_command_queue command_queue, cl_mem memobj, void *mapped_ptr, cl_uint num_events_in_wait_list,
                     const cl_event *event_wait_list, cl_event *event),
                    (command_queue, memobj, mapped_ptr, num_events_in_wait_list, event_wait_list, event))
XENT_FORWARD_STATUS(clEnqueueBarrierWithWaitList,
                    (cl_command_queue command_queue, cl_uint num_events_in_wait_list, const cl_event *event_wait_list,
                     cl_event *event),
                    (command_queue, num_events_in_wait_list, event_wait_list, event))
XENT_FORWARD_STATUS(clGetKernelWorkGroupInfo,
                    (cl_kernel kernel, cl_device_id device, cl_kernel_work_group_info param_name,
                     size_t param_value_size, void *param_value, size_t *param_value_size_ret),
                    (kernel, device, param_name, param_value_size, param_value, param_value_size_ret))
