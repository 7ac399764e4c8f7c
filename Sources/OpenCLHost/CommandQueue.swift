import COpenCL
import Glibc

/// An in-order OpenCL command queue with profiling, on a context's device: the device time of every
/// kernel it launches is added to `TransferCounters` once a blocking read, write or `finish` has
/// waited for it.
///
/// Sendable: OpenCL 1.2 §A.2 makes every API call thread-safe except `clSetKernelArg` on one
/// kernel, which a queue never makes; the launches' events are kept under `eventsLock`.
public final class CommandQueue: @unchecked Sendable {
    /// The `cl_command_queue`, released in `deinit`.
    let handle: cl_command_queue
    /// The events of launches whose time is not yet counted, each with its place in the order of
    /// launches, and the next place; guarded by `eventsLock`.
    private var pendingEvents: [(place: Int, event: cl_event)] = []
    private var nextPlace = 0
    private let eventsLock: UnsafeMutablePointer<pthread_mutex_t>
    /// Whether launches are timed: the queue was made with `CL_QUEUE_PROFILING_ENABLE`.
    let profiling: Bool
    /// Whether the queue may run its commands out of order (only a caller's queue can).
    public let isOutOfOrder: Bool

    /// Creates an in-order queue on `context`'s device, with profiling enabled.
    public init(context: Context) throws(OpenCLError) {
        self.handle = try clCreate("clCreateCommandQueue") { status in
            clCreateCommandQueue(
                context.handle, context.device.id, cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE), status)
        }
        profiling = true
        isOutOfOrder = false
        eventsLock = Self.makeLock()
    }

    /// Adopts a queue made elsewhere (retained here, released in `deinit`): the caller's, as libraries
    /// such as CLBlast take it. Its launches are timed only if it was made with profiling.
    public init(retaining handle: OpaquePointer) throws(OpenCLError) {
        var properties: cl_command_queue_properties = 0
        try clCall("clGetCommandQueueInfo") {
            clGetCommandQueueInfo(
                handle, cl_command_queue_info(CL_QUEUE_PROPERTIES), MemoryLayout.size(ofValue: properties),
                &properties, nil)
        }
        try clCall("clRetainCommandQueue") { clRetainCommandQueue(handle) }
        self.handle = handle
        profiling = properties & cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) != 0
        isOutOfOrder = properties & cl_command_queue_properties(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0
        eventsLock = Self.makeLock()
    }

    /// The mutex of `pendingEvents`, made once the queue exists (so a failed init leaks none).
    private static func makeLock() -> UnsafeMutablePointer<pthread_mutex_t> {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        lock.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(lock, nil) == 0, "pthread_mutex_init failed")
        return lock
    }

    /// The context this queue belongs to, holding the queue's device.
    public func context() throws(OpenCLError) -> Context {
        var context: cl_context?
        var device: cl_device_id?
        try clCall("clGetCommandQueueInfo") {
            clGetCommandQueueInfo(
                handle, cl_command_queue_info(CL_QUEUE_CONTEXT), MemoryLayout<cl_context?>.size, &context, nil)
        }
        try clCall("clGetCommandQueueInfo") {
            clGetCommandQueueInfo(
                handle, cl_command_queue_info(CL_QUEUE_DEVICE), MemoryLayout<cl_device_id?>.size, &device, nil)
        }
        guard let context, let device else {
            throw OpenCLError(status: .invalidCommandQueue, call: "clGetCommandQueueInfo")
        }
        return try Context(retaining: context, device: Device(id: device))
    }

    deinit {
        clFinish(handle)
        for pending in pendingEvents {
            clReleaseEvent(pending.event)
        }
        clReleaseCommandQueue(handle)
        pthread_mutex_destroy(eventsLock)
        eventsLock.deallocate()
    }

    /// Blocks until every command enqueued so far has completed.
    public func finish() throws(OpenCLError) {
        let launched = launchesSoFar()
        try clCall("clFinish") { clFinish(handle) }
        countLaunches(before: launched)
    }

    /// Enqueues a 1-D NDRange launch of `kernel` with its arguments as set now.
    ///
    /// - Parameters:
    ///   - globalSize: the number of work items; the caller rounds it to a multiple of
    ///     `localSize`. Zero enqueues nothing.
    ///   - localSize: the work-group size; nil lets the driver choose.
    public func enqueue(_ kernel: Kernel, globalSize: Int, localSize: Int? = nil)
        throws(OpenCLError)
    {
        try enqueue(kernel, global: [globalSize], local: localSize.map { [$0] })
    }

    /// Enqueues a 2-D NDRange launch of `kernel` with its arguments as set now: `globalSize` work items
    /// in each dimension, in work-groups of `localSize` (each a multiple of it). Zero enqueues nothing.
    public func enqueue(_ kernel: Kernel, globalSize: (Int, Int), localSize: (Int, Int)) throws(OpenCLError) {
        try enqueue(kernel, global: [globalSize.0, globalSize.1], local: [localSize.0, localSize.1])
    }

    private func enqueue(_ kernel: Kernel, global: [Int], local: [Int]?) throws(OpenCLError) {
        precondition(global.allSatisfy { $0 >= 0 }, "globalSize must not be negative")
        precondition(local.map { $0.allSatisfy { $0 > 0 } } ?? true, "localSize must be positive")
        guard global.allSatisfy({ $0 > 0 }) else { return }
        var event: cl_event?
        try clCall("clEnqueueNDRangeKernel") {
            global.withUnsafeBufferPointer { global in
                (local ?? []).withUnsafeBufferPointer { localSizes in
                    withUnsafeMutablePointer(to: &event) { event in
                        clEnqueueNDRangeKernel(
                            handle, kernel.handle, cl_uint(global.count), nil, global.baseAddress,
                            local == nil ? nil : localSizes.baseAddress, 0, nil, profiling ? event : nil)
                    }
                }
            }
        }
        if let event {
            pthread_mutex_lock(eventsLock)
            pendingEvents.append((nextPlace, event))
            nextPlace += 1
            pthread_mutex_unlock(eventsLock)
        }
    }

    /// Runs `kernel` over `globalSize` work items (in groups of `localSize`) on its own and returns its
    /// device time in seconds, from event profiling; not added to `TransferCounters` (a measurement of
    /// the device, not work done for a caller). Needs a queue with profiling.
    public func timedRun(_ kernel: Kernel, globalSize: Int, localSize: Int) throws(OpenCLError) -> Double {
        precondition(profiling, "timedRun needs a queue made with profiling")
        var global = globalSize
        var local = localSize
        var event: cl_event?
        try clCall("clEnqueueNDRangeKernel") {
            clEnqueueNDRangeKernel(handle, kernel.handle, 1, nil, &global, &local, 0, nil, &event)
        }
        guard let event else { preconditionFailure("clEnqueueNDRangeKernel made no event") }
        defer { clReleaseEvent(event) }
        var completed: cl_event? = event
        try clCall("clWaitForEvents") { clWaitForEvents(1, &completed) }
        return Double(try Self.deviceNanoseconds(of: event)) * 1e-9
    }

    /// The device time of the completed command of `event`, from its profiling information.
    private static func deviceNanoseconds(of event: cl_event) throws(OpenCLError) -> Int {
        var start: cl_ulong = 0
        var end: cl_ulong = 0
        try clCall("clGetEventProfilingInfo") {
            clGetEventProfilingInfo(
                event, cl_profiling_info(CL_PROFILING_COMMAND_START), MemoryLayout<cl_ulong>.size, &start, nil)
        }
        try clCall("clGetEventProfilingInfo") {
            clGetEventProfilingInfo(
                event, cl_profiling_info(CL_PROFILING_COMMAND_END), MemoryLayout<cl_ulong>.size, &end, nil)
        }
        return Int(end >= start ? end - start : 0)
    }

    /// Copies `destination.count` bytes from `buffer`, starting `offset` bytes in, into host
    /// memory, returning once the copy (and every command before it) has completed.
    public func read(
        _ buffer: Buffer, offset: Int = 0, into destination: UnsafeMutableRawBufferPointer
    ) throws(OpenCLError) {
        let launched = launchesSoFar()
        _ = try read(buffer, offset: offset, into: destination, blocking: true)
        countLaunches(before: launched)
    }

    /// Copies `source` into `buffer`, starting `offset` bytes in, returning once the copy (and
    /// every command before it) has completed.
    public func write(_ buffer: Buffer, offset: Int = 0, from source: UnsafeRawBufferPointer)
        throws(OpenCLError)
    {
        let launched = launchesSoFar()
        _ = try write(buffer, offset: offset, from: source, blocking: true)
        countLaunches(before: launched)
    }

    /// Enqueues a copy of `source` into `buffer` from `offset` bytes in, and returns at once with the
    /// copy's event: `source` must stay valid and unchanged until that event has completed.
    public func enqueueWrite(_ buffer: Buffer, offset: Int = 0, from source: UnsafeRawBufferPointer)
        throws(OpenCLError) -> Event?
    {
        try write(buffer, offset: offset, from: source, blocking: false)
    }

    /// Enqueues a copy of `buffer`'s bytes from `offset` into `destination`, and returns at once with
    /// the copy's event: `destination` must stay valid and untouched until that event has completed.
    public func enqueueRead(_ buffer: Buffer, offset: Int = 0, into destination: UnsafeMutableRawBufferPointer)
        throws(OpenCLError) -> Event?
    {
        try read(buffer, offset: offset, into: destination, blocking: false)
    }

    /// `clEnqueueReadBuffer`, counted in `TransferCounters`; the event of a non-blocking read.
    private func read(
        _ buffer: Buffer, offset: Int, into destination: UnsafeMutableRawBufferPointer, blocking: Bool
    ) throws(OpenCLError) -> Event? {
        checkRange(of: buffer, offset: offset, count: destination.count)
        guard let address = destination.baseAddress, destination.count > 0 else { return nil }
        var event: cl_event?
        try clCall("clEnqueueReadBuffer") {
            // A blocking read waits in the call, and so returns no event.
            withUnsafeMutablePointer(to: &event) { event in
                clEnqueueReadBuffer(
                    handle, buffer.handle, cl_bool(blocking ? CL_TRUE : CL_FALSE), offset, destination.count, address,
                    0, nil, blocking ? nil : event)
            }
        }
        // A read into the very memory a zero-copy buffer is only synchronises it.
        if UnsafeRawPointer(address) != buffer.hostAddress.map({ $0 + offset }) {
            TransferCounters.addDeviceToHost(destination.count)
        }
        return event.map(Event.init)
    }

    /// `clEnqueueWriteBuffer`, counted in `TransferCounters`; the event of a non-blocking write.
    private func write(_ buffer: Buffer, offset: Int, from source: UnsafeRawBufferPointer, blocking: Bool)
        throws(OpenCLError) -> Event?
    {
        checkRange(of: buffer, offset: offset, count: source.count)
        guard let address = source.baseAddress, source.count > 0 else { return nil }
        var event: cl_event?
        try clCall("clEnqueueWriteBuffer") {
            withUnsafeMutablePointer(to: &event) { event in
                clEnqueueWriteBuffer(
                    handle, buffer.handle, cl_bool(blocking ? CL_TRUE : CL_FALSE), offset, source.count, address, 0,
                    nil, blocking ? nil : event)
            }
        }
        TransferCounters.addHostToDevice(source.count)
        return event.map(Event.init)
    }

    /// Makes every command enqueued after this wait for `event`, a command of another queue of the same
    /// context (`clEnqueueBarrierWithWaitList`).
    public func enqueueWait(for event: Event) throws(OpenCLError) {
        var waited: cl_event? = event.handle
        try clCall("clEnqueueBarrierWithWaitList") { clEnqueueBarrierWithWaitList(handle, 1, &waited, nil) }
    }

    /// Enqueues setting the whole of `buffer` to zero bytes.
    public func zero(_ buffer: Buffer) throws(OpenCLError) {
        var pattern: UInt8 = 0
        try clCall("clEnqueueFillBuffer") {
            clEnqueueFillBuffer(handle, buffer.handle, &pattern, 1, 0, max(buffer.byteCount, 1), 0, nil, nil)
        }
    }

    /// The place the next launch will take: a blocking call enqueued after this waits for every launch
    /// before it.
    private func launchesSoFar() -> Int {
        pthread_mutex_lock(eventsLock)
        defer { pthread_mutex_unlock(eventsLock) }
        return nextPlace
    }

    /// Adds the device time of the launches before place `horizon` — enqueued before a blocking call
    /// that has just returned, so complete on this in-order queue — to `TransferCounters`, and releases
    /// their events. (Launches other threads made since are left for their own blocking calls.) Best
    /// effort: a launch whose profiling a driver does not report is not counted, and fails nothing.
    private func countLaunches(before horizon: Int) {
        pthread_mutex_lock(eventsLock)
        let events = pendingEvents.filter { $0.place < horizon }.map(\.event)
        pendingEvents.removeAll { $0.place < horizon }
        pthread_mutex_unlock(eventsLock)
        defer {
            for event in events { clReleaseEvent(event) }
        }
        for event in events {
            if let nanoseconds = try? Self.deviceNanoseconds(of: event) {
                TransferCounters.addKernelTime(nanoseconds)
            }
        }
    }

    private func checkRange(of buffer: Buffer, offset: Int, count: Int) {
        precondition(
            offset >= 0 && offset <= buffer.byteCount - count,
            "bytes \(offset)..<\(offset + count) lie outside a buffer of \(buffer.byteCount) bytes")
    }
}
