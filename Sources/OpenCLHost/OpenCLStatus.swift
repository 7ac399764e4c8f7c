import COpenCL

/// A status code returned by an OpenCL API call (`cl_int`).
///
/// Every OpenCL 1.2 error code has a named constant, plus `platformNotFoundKHR`, which the ICD
/// loader reports when it finds no platform. Codes outside that set keep their raw value.
public struct OpenCLStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The raw `cl_int` value.
    public let rawValue: cl_int

    /// Wraps a raw `cl_int` status; any value is accepted.
    public init(rawValue: cl_int) {
        self.rawValue = rawValue
    }

    /// The C name of the status (for example `CL_OUT_OF_RESOURCES`), or
    /// `unknown OpenCL status N` for a code this type does not name.
    public var description: String {
        name ?? "unknown OpenCL status \(rawValue)"
    }

    /// `CL_SUCCESS` (0).
    public static let success = Self(rawValue: CL_SUCCESS)
    /// `CL_DEVICE_NOT_FOUND` (-1).
    public static let deviceNotFound = Self(rawValue: CL_DEVICE_NOT_FOUND)
    /// `CL_DEVICE_NOT_AVAILABLE` (-2).
    public static let deviceNotAvailable = Self(rawValue: CL_DEVICE_NOT_AVAILABLE)
    /// `CL_COMPILER_NOT_AVAILABLE` (-3).
    public static let compilerNotAvailable = Self(rawValue: CL_COMPILER_NOT_AVAILABLE)
    /// `CL_MEM_OBJECT_ALLOCATION_FAILURE` (-4).
    public static let memObjectAllocationFailure = Self(rawValue: CL_MEM_OBJECT_ALLOCATION_FAILURE)
    /// `CL_OUT_OF_RESOURCES` (-5).
    public static let outOfResources = Self(rawValue: CL_OUT_OF_RESOURCES)
    /// `CL_OUT_OF_HOST_MEMORY` (-6).
    public static let outOfHostMemory = Self(rawValue: CL_OUT_OF_HOST_MEMORY)
    /// `CL_PROFILING_INFO_NOT_AVAILABLE` (-7).
    public static let profilingInfoNotAvailable = Self(rawValue: CL_PROFILING_INFO_NOT_AVAILABLE)
    /// `CL_MEM_COPY_OVERLAP` (-8).
    public static let memCopyOverlap = Self(rawValue: CL_MEM_COPY_OVERLAP)
    /// `CL_IMAGE_FORMAT_MISMATCH` (-9).
    public static let imageFormatMismatch = Self(rawValue: CL_IMAGE_FORMAT_MISMATCH)
    /// `CL_IMAGE_FORMAT_NOT_SUPPORTED` (-10).
    public static let imageFormatNotSupported = Self(rawValue: CL_IMAGE_FORMAT_NOT_SUPPORTED)
    /// `CL_BUILD_PROGRAM_FAILURE` (-11).
    public static let buildProgramFailure = Self(rawValue: CL_BUILD_PROGRAM_FAILURE)
    /// `CL_MAP_FAILURE` (-12).
    public static let mapFailure = Self(rawValue: CL_MAP_FAILURE)
    /// `CL_MISALIGNED_SUB_BUFFER_OFFSET` (-13).
    public static let misalignedSubBufferOffset = Self(rawValue: CL_MISALIGNED_SUB_BUFFER_OFFSET)
    /// `CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST` (-14).
    public static let execStatusErrorForEventsInWaitList = Self(
        rawValue: CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    /// `CL_COMPILE_PROGRAM_FAILURE` (-15).
    public static let compileProgramFailure = Self(rawValue: CL_COMPILE_PROGRAM_FAILURE)
    /// `CL_LINKER_NOT_AVAILABLE` (-16).
    public static let linkerNotAvailable = Self(rawValue: CL_LINKER_NOT_AVAILABLE)
    /// `CL_LINK_PROGRAM_FAILURE` (-17).
    public static let linkProgramFailure = Self(rawValue: CL_LINK_PROGRAM_FAILURE)
    /// `CL_DEVICE_PARTITION_FAILED` (-18).
    public static let devicePartitionFailed = Self(rawValue: CL_DEVICE_PARTITION_FAILED)
    /// `CL_KERNEL_ARG_INFO_NOT_AVAILABLE` (-19).
    public static let kernelArgInfoNotAvailable = Self(rawValue: CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    /// `CL_INVALID_VALUE` (-30).
    public static let invalidValue = Self(rawValue: CL_INVALID_VALUE)
    /// `CL_INVALID_DEVICE_TYPE` (-31).
    public static let invalidDeviceType = Self(rawValue: CL_INVALID_DEVICE_TYPE)
    /// `CL_INVALID_PLATFORM` (-32).
    public static let invalidPlatform = Self(rawValue: CL_INVALID_PLATFORM)
    /// `CL_INVALID_DEVICE` (-33).
    public static let invalidDevice = Self(rawValue: CL_INVALID_DEVICE)
    /// `CL_INVALID_CONTEXT` (-34).
    public static let invalidContext = Self(rawValue: CL_INVALID_CONTEXT)
    /// `CL_INVALID_QUEUE_PROPERTIES` (-35).
    public static let invalidQueueProperties = Self(rawValue: CL_INVALID_QUEUE_PROPERTIES)
    /// `CL_INVALID_COMMAND_QUEUE` (-36).
    public static let invalidCommandQueue = Self(rawValue: CL_INVALID_COMMAND_QUEUE)
    /// `CL_INVALID_HOST_PTR` (-37).
    public static let invalidHostPtr = Self(rawValue: CL_INVALID_HOST_PTR)
    /// `CL_INVALID_MEM_OBJECT` (-38).
    public static let invalidMemObject = Self(rawValue: CL_INVALID_MEM_OBJECT)
    /// `CL_INVALID_IMAGE_FORMAT_DESCRIPTOR` (-39).
    public static let invalidImageFormatDescriptor = Self(
        rawValue: CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    /// `CL_INVALID_IMAGE_SIZE` (-40).
    public static let invalidImageSize = Self(rawValue: CL_INVALID_IMAGE_SIZE)
    /// `CL_INVALID_SAMPLER` (-41).
    public static let invalidSampler = Self(rawValue: CL_INVALID_SAMPLER)
    /// `CL_INVALID_BINARY` (-42).
    public static let invalidBinary = Self(rawValue: CL_INVALID_BINARY)
    /// `CL_INVALID_BUILD_OPTIONS` (-43).
    public static let invalidBuildOptions = Self(rawValue: CL_INVALID_BUILD_OPTIONS)
    /// `CL_INVALID_PROGRAM` (-44).
    public static let invalidProgram = Self(rawValue: CL_INVALID_PROGRAM)
    /// `CL_INVALID_PROGRAM_EXECUTABLE` (-45).
    public static let invalidProgramExecutable = Self(rawValue: CL_INVALID_PROGRAM_EXECUTABLE)
    /// `CL_INVALID_KERNEL_NAME` (-46).
    public static let invalidKernelName = Self(rawValue: CL_INVALID_KERNEL_NAME)
    /// `CL_INVALID_KERNEL_DEFINITION` (-47).
    public static let invalidKernelDefinition = Self(rawValue: CL_INVALID_KERNEL_DEFINITION)
    /// `CL_INVALID_KERNEL` (-48).
    public static let invalidKernel = Self(rawValue: CL_INVALID_KERNEL)
    /// `CL_INVALID_ARG_INDEX` (-49).
    public static let invalidArgIndex = Self(rawValue: CL_INVALID_ARG_INDEX)
    /// `CL_INVALID_ARG_VALUE` (-50).
    public static let invalidArgValue = Self(rawValue: CL_INVALID_ARG_VALUE)
    /// `CL_INVALID_ARG_SIZE` (-51).
    public static let invalidArgSize = Self(rawValue: CL_INVALID_ARG_SIZE)
    /// `CL_INVALID_KERNEL_ARGS` (-52).
    public static let invalidKernelArgs = Self(rawValue: CL_INVALID_KERNEL_ARGS)
    /// `CL_INVALID_WORK_DIMENSION` (-53).
    public static let invalidWorkDimension = Self(rawValue: CL_INVALID_WORK_DIMENSION)
    /// `CL_INVALID_WORK_GROUP_SIZE` (-54).
    public static let invalidWorkGroupSize = Self(rawValue: CL_INVALID_WORK_GROUP_SIZE)
    /// `CL_INVALID_WORK_ITEM_SIZE` (-55).
    public static let invalidWorkItemSize = Self(rawValue: CL_INVALID_WORK_ITEM_SIZE)
    /// `CL_INVALID_GLOBAL_OFFSET` (-56).
    public static let invalidGlobalOffset = Self(rawValue: CL_INVALID_GLOBAL_OFFSET)
    /// `CL_INVALID_EVENT_WAIT_LIST` (-57).
    public static let invalidEventWaitList = Self(rawValue: CL_INVALID_EVENT_WAIT_LIST)
    /// `CL_INVALID_EVENT` (-58).
    public static let invalidEvent = Self(rawValue: CL_INVALID_EVENT)
    /// `CL_INVALID_OPERATION` (-59).
    public static let invalidOperation = Self(rawValue: CL_INVALID_OPERATION)
    /// `CL_INVALID_GL_OBJECT` (-60).
    public static let invalidGLObject = Self(rawValue: CL_INVALID_GL_OBJECT)
    /// `CL_INVALID_BUFFER_SIZE` (-61).
    public static let invalidBufferSize = Self(rawValue: CL_INVALID_BUFFER_SIZE)
    /// `CL_INVALID_MIP_LEVEL` (-62).
    public static let invalidMipLevel = Self(rawValue: CL_INVALID_MIP_LEVEL)
    /// `CL_INVALID_GLOBAL_WORK_SIZE` (-63).
    public static let invalidGlobalWorkSize = Self(rawValue: CL_INVALID_GLOBAL_WORK_SIZE)
    /// `CL_INVALID_PROPERTY` (-64).
    public static let invalidProperty = Self(rawValue: CL_INVALID_PROPERTY)
    /// `CL_INVALID_IMAGE_DESCRIPTOR` (-65).
    public static let invalidImageDescriptor = Self(rawValue: CL_INVALID_IMAGE_DESCRIPTOR)
    /// `CL_INVALID_COMPILER_OPTIONS` (-66).
    public static let invalidCompilerOptions = Self(rawValue: CL_INVALID_COMPILER_OPTIONS)
    /// `CL_INVALID_LINKER_OPTIONS` (-67).
    public static let invalidLinkerOptions = Self(rawValue: CL_INVALID_LINKER_OPTIONS)
    /// `CL_INVALID_DEVICE_PARTITION_COUNT` (-68).
    public static let invalidDevicePartitionCount = Self(
        rawValue: CL_INVALID_DEVICE_PARTITION_COUNT)
    /// `CL_PLATFORM_NOT_FOUND_KHR` (-1001): the ICD loader found no platform.
    ///
    /// Defined in `cl_ext.h` (cl_khr_icd), which `COpenCL.h` does not include.
    public static let platformNotFoundKHR = Self(rawValue: -1001)

    /// The C name, or nil for a code this type does not name.
    var name: String? {
        switch self {
        case .success: "CL_SUCCESS"
        case .deviceNotFound: "CL_DEVICE_NOT_FOUND"
        case .deviceNotAvailable: "CL_DEVICE_NOT_AVAILABLE"
        case .compilerNotAvailable: "CL_COMPILER_NOT_AVAILABLE"
        case .memObjectAllocationFailure: "CL_MEM_OBJECT_ALLOCATION_FAILURE"
        case .outOfResources: "CL_OUT_OF_RESOURCES"
        case .outOfHostMemory: "CL_OUT_OF_HOST_MEMORY"
        case .profilingInfoNotAvailable: "CL_PROFILING_INFO_NOT_AVAILABLE"
        case .memCopyOverlap: "CL_MEM_COPY_OVERLAP"
        case .imageFormatMismatch: "CL_IMAGE_FORMAT_MISMATCH"
        case .imageFormatNotSupported: "CL_IMAGE_FORMAT_NOT_SUPPORTED"
        case .buildProgramFailure: "CL_BUILD_PROGRAM_FAILURE"
        case .mapFailure: "CL_MAP_FAILURE"
        case .misalignedSubBufferOffset: "CL_MISALIGNED_SUB_BUFFER_OFFSET"
        case .execStatusErrorForEventsInWaitList: "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"
        case .compileProgramFailure: "CL_COMPILE_PROGRAM_FAILURE"
        case .linkerNotAvailable: "CL_LINKER_NOT_AVAILABLE"
        case .linkProgramFailure: "CL_LINK_PROGRAM_FAILURE"
        case .devicePartitionFailed: "CL_DEVICE_PARTITION_FAILED"
        case .kernelArgInfoNotAvailable: "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"
        case .invalidValue: "CL_INVALID_VALUE"
        case .invalidDeviceType: "CL_INVALID_DEVICE_TYPE"
        case .invalidPlatform: "CL_INVALID_PLATFORM"
        case .invalidDevice: "CL_INVALID_DEVICE"
        case .invalidContext: "CL_INVALID_CONTEXT"
        case .invalidQueueProperties: "CL_INVALID_QUEUE_PROPERTIES"
        case .invalidCommandQueue: "CL_INVALID_COMMAND_QUEUE"
        case .invalidHostPtr: "CL_INVALID_HOST_PTR"
        case .invalidMemObject: "CL_INVALID_MEM_OBJECT"
        case .invalidImageFormatDescriptor: "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR"
        case .invalidImageSize: "CL_INVALID_IMAGE_SIZE"
        case .invalidSampler: "CL_INVALID_SAMPLER"
        case .invalidBinary: "CL_INVALID_BINARY"
        case .invalidBuildOptions: "CL_INVALID_BUILD_OPTIONS"
        case .invalidProgram: "CL_INVALID_PROGRAM"
        case .invalidProgramExecutable: "CL_INVALID_PROGRAM_EXECUTABLE"
        case .invalidKernelName: "CL_INVALID_KERNEL_NAME"
        case .invalidKernelDefinition: "CL_INVALID_KERNEL_DEFINITION"
        case .invalidKernel: "CL_INVALID_KERNEL"
        case .invalidArgIndex: "CL_INVALID_ARG_INDEX"
        case .invalidArgValue: "CL_INVALID_ARG_VALUE"
        case .invalidArgSize: "CL_INVALID_ARG_SIZE"
        case .invalidKernelArgs: "CL_INVALID_KERNEL_ARGS"
        case .invalidWorkDimension: "CL_INVALID_WORK_DIMENSION"
        case .invalidWorkGroupSize: "CL_INVALID_WORK_GROUP_SIZE"
        case .invalidWorkItemSize: "CL_INVALID_WORK_ITEM_SIZE"
        case .invalidGlobalOffset: "CL_INVALID_GLOBAL_OFFSET"
        case .invalidEventWaitList: "CL_INVALID_EVENT_WAIT_LIST"
        case .invalidEvent: "CL_INVALID_EVENT"
        case .invalidOperation: "CL_INVALID_OPERATION"
        case .invalidGLObject: "CL_INVALID_GL_OBJECT"
        case .invalidBufferSize: "CL_INVALID_BUFFER_SIZE"
        case .invalidMipLevel: "CL_INVALID_MIP_LEVEL"
        case .invalidGlobalWorkSize: "CL_INVALID_GLOBAL_WORK_SIZE"
        case .invalidProperty: "CL_INVALID_PROPERTY"
        case .invalidImageDescriptor: "CL_INVALID_IMAGE_DESCRIPTOR"
        case .invalidCompilerOptions: "CL_INVALID_COMPILER_OPTIONS"
        case .invalidLinkerOptions: "CL_INVALID_LINKER_OPTIONS"
        case .invalidDevicePartitionCount: "CL_INVALID_DEVICE_PARTITION_COUNT"
        case .platformNotFoundKHR: "CL_PLATFORM_NOT_FOUND_KHR"
        default: nil
        }
    }

    /// Whether the status can only mean that this module, or the code calling it, broke an API
    /// contract: a handle we own turned invalid, or kernel arguments that do not match the
    /// kernel. The checked call stops the program on these instead of throwing.
    var isProgrammingError: Bool {
        switch self {
        case .invalidContext, .invalidCommandQueue, .invalidMemObject, .invalidProgram,
            .invalidKernel, .invalidArgIndex, .invalidArgValue, .invalidArgSize,
            .invalidKernelArgs, .invalidWorkDimension, .invalidEventWaitList, .invalidEvent:
            true
        default:
            false
        }
    }
}
