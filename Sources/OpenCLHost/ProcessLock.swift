import Glibc

/// A lock held across the process around calls into libraries that are not safe to enter from several
/// threads at once.
///
/// `@unchecked Sendable`: the pointer never changes, and the mutex it points to is only used through
/// `pthread_mutex_lock` and `pthread_mutex_unlock`, which synchronize.
final class ProcessLock: @unchecked Sendable {
    /// Platform and device discovery. PoCL 3.1 sets up its devices in the first `clGetDeviceIDs`, and
    /// guards that against re-entry with a flag it reads without its lock: a call made on another thread
    /// meanwhile sees the flag, skips the set-up, and returns `CL_DEVICE_NOT_FOUND`. Discovery made under
    /// this lock never overlaps, so every caller sees the devices.
    static let discovery = ProcessLock()
    /// CLBlast's routines. CLBlast 1.5 keeps its tuning database and compiled programs in process-wide
    /// caches: under AddressSanitizer, a `CLBlastDgemm` copying a database entry read memory that a call
    /// on another thread had freed.
    static let clblast = ProcessLock()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    private init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    /// Runs `body` while holding this lock.
    func withLock<Result>(_ body: () throws(OpenCLError) -> Result) throws(OpenCLError) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
