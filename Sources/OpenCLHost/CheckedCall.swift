import COpenCL

// The one funnel every OpenCL C call in this module goes through.

/// Runs an OpenCL call that returns its status, throwing unless it is `CL_SUCCESS`.
///
/// A status that can only come from a broken API contract (see
/// `OpenCLStatus.isProgrammingError`) stops the program with the call name instead.
func clCall(_ name: StaticString, _ body: () -> cl_int) throws(OpenCLError) {
    try check(OpenCLStatus(rawValue: body()), from: name)
}

/// Runs an OpenCL call that creates an object and reports its status through an `errcode_ret`
/// out-parameter, returning the object or throwing as `clCall` does.
func clCreate<Handle>(
    _ name: StaticString,
    _ body: (UnsafeMutablePointer<cl_int>) -> Handle?
) throws(OpenCLError) -> Handle {
    var status = CL_SUCCESS
    let handle = body(&status)
    try check(OpenCLStatus(rawValue: status), from: name)
    guard let handle else {
        preconditionFailure("\(name) returned NULL with CL_SUCCESS")
    }
    return handle
}

/// Reads a string-valued OpenCL property with the usual two calls: one for the size, one for the
/// bytes. `query` receives `param_value_size`, `param_value` and `param_value_size_ret`.
func clString(
    _ name: StaticString,
    _ query: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int
) throws(OpenCLError) -> String {
    var size = 0
    try clCall(name) { query(0, nil, &size) }
    guard size > 0 else { return "" }
    var bytes = [UInt8](repeating: 0, count: size)
    try clCall(name) { bytes.withUnsafeMutableBytes { query(size, $0.baseAddress, nil) } }
    // The value is NUL-terminated; keep what precedes the first NUL.
    return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
}

private func check(_ status: OpenCLStatus, from name: StaticString) throws(OpenCLError) {
    guard status != .success else { return }
    if status.isProgrammingError {
        preconditionFailure("\(name) failed: \(status) (\(status.rawValue)), a programming error")
    }
    throw OpenCLError(status: status, call: "\(name)")
}

/// Runs a CLBlast routine under `ProcessLock.clblast`, throwing unless it returns 0. CLBlast's statuses
/// are OpenCL's codes or its own (from -1024 down, which `OpenCLStatus` keeps as raw values); none traps,
/// since CLBlast also reports the device's limits (a temporary buffer it cannot allocate) through them.
func clblastCall(_ name: StaticString, _ body: () -> Int32) throws(OpenCLError) {
    let status = try ProcessLock.clblast.withLock { () throws(OpenCLError) in OpenCLStatus(rawValue: body()) }
    guard status == .success else { throw OpenCLError(status: status, call: "\(name)") }
}
