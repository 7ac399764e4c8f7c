import Glibc

/// Serializes platform and device discovery across the process.
///
/// PoCL 3.1 sets up its devices in the first `clGetDeviceIDs`, and guards that against re-entry
/// with a flag it reads without its lock: a call made on another thread meanwhile sees the flag,
/// skips the set-up, and returns `CL_DEVICE_NOT_FOUND`. Discovery made under this lock never
/// overlaps, so every caller sees the devices.
enum DiscoveryLock {
    /// `nonisolated(unsafe)`: the pointer never changes, and the mutex it points to is only used
    /// through `pthread_mutex_lock` and `pthread_mutex_unlock`, which synchronize.
    nonisolated(unsafe) private static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
        return mutex
    }()

    /// Runs `body` while holding the process-wide discovery lock.
    static func withLock<Result>(_ body: () throws(OpenCLError) -> Result) throws(OpenCLError)
        -> Result
    {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
