/// A failed OpenCL API call.
public struct OpenCLError: Error, CustomStringConvertible, Sendable {
    /// The status the call returned.
    public let status: OpenCLStatus
    /// The name of the C function that failed, for example `clCreateBuffer`.
    public let call: String
    /// The device's build log when `clBuildProgram` failed; empty for other calls.
    public let buildLog: String
    /// The build options when `clBuildProgram` failed; empty for other calls.
    public let options: String

    /// An error of `call` with `status`; `buildLog` and `options` belong to failed program builds.
    public init(status: OpenCLStatus, call: String, buildLog: String = "", options: String = "") {
        self.status = status
        self.call = call
        self.buildLog = buildLog
        self.options = options
    }

    /// `<call> failed: <C name> (<code>)`, followed by the build options and build log when
    /// there are any.
    public var description: String {
        var text = "\(call) failed: "
        if let name = status.name {
            text += "\(name) (\(status.rawValue))"
        } else {
            text += status.description
        }
        if !options.isEmpty {
            text += "\noptions: \(options)"
        }
        if !buildLog.isEmpty {
            text += "\nbuild log:\n\(buildLog)"
        }
        return text
    }
}
