import Glibc

/// An error number from a failed system call.
struct SystemError: Error {
    /// The `errno` value.
    var code: Int32

    /// The system's text for `code`, e.g. "Permission denied".
    var text: String { String(cString: strerror(code)) }
}

/// Opens `path` with `flags` (and `mode`, for a file it creates), retrying when interrupted,
/// and returns the file descriptor.
func openFile(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(SystemError) -> Int32 {
    while true {
        let descriptor = open(path, flags, mode)
        if descriptor >= 0 {
            return descriptor
        }
        guard errno == EINTR else { throw SystemError(code: errno) }
    }
}

/// Writes all of `buffer` to `descriptor`, continuing after short writes and interruptions.
func writeAll(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer) throws(SystemError) {
    guard let base = buffer.baseAddress else { return }
    var written = 0
    while written < buffer.count {
        let result = write(descriptor, base + written, buffer.count - written)
        if result > 0 {
            written += result
        } else if result == 0 {
            throw SystemError(code: EIO)
        } else if errno != EINTR {
            throw SystemError(code: errno)
        }
    }
}

/// Writes all of `bytes` to `descriptor`, continuing after short writes and interruptions.
func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) throws(SystemError) {
    let failure = bytes.withUnsafeBytes { buffer -> SystemError? in
        do throws(SystemError) {
            try writeAll(descriptor, buffer)
            return nil
        } catch {
            return error
        }
    }
    if let failure { throw failure }
}

/// Flushes `descriptor`'s data to stable storage, retrying when interrupted.
func syncFile(_ descriptor: Int32) throws(SystemError) {
    while fsync(descriptor) != 0 {
        guard errno == EINTR else { throw SystemError(code: errno) }
    }
}
