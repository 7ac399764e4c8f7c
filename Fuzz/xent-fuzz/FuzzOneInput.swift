import CrossEntropy
import NPY

/// The largest element count (of the logits, the target or any other file) the harness works on,
/// so that one input never allocates more than a few MB in the harness itself.
let maximumElements = 1 << 16

/// Whether each call's outcome is printed (the replay build's `-v`); set once, before any input runs.
nonisolated(unsafe) var tracesCalls = false

/// Runs `body`, the call `name`, ignoring what it throws; prints the outcome when `tracesCalls` is set.
private func attempt(_ name: String, _ body: () throws -> Void) {
    do {
        try body()
        if tracesCalls {
            print("  \(name): ok")
        }
    } catch {
        if tracesCalls {
            print("  \(name): \(error)")
        }
    }
}

/// The CPU engine every input runs on, made once.
let engine: CrossEntropyEngine = {
    do {
        return try CrossEntropyEngine(device: .cpu)
    } catch {
        fatalError("cannot make the CPU engine: \(error)")
    }
}()

/// Runs one fuzz input: every call may throw, but none may crash, trap or hang.
///
/// The whole input is read as a `.npy` file; when it holds `FuzzInput.marker`, the part before it is
/// read as the logits and the rest as options and a target file (see `FuzzInput` for the layout).
/// Floating-point logits go through the primitives (logsumexp, softmax, log-softmax) and, with a
/// target, through every loss entry point.
func fuzzOne(_ bytes: [UInt8]) {
    readAndCheck(bytes)
    let input = FuzzInput(bytes)
    guard let optionBlock = input.options else { return }
    let options = OptionBytes(bytes: optionBlock)
    let deviceLength = min(Int(optionBlock[46]), 16)
    let device = String(decoding: optionBlock[47..<47 + deviceLength], as: UTF8.self)
    attempt("DeviceRequest(parsing: \(device.debugDescription))") { _ = try DeviceRequest(parsing: device) }
    guard let logits = readAndCheck(Array(input.logits)) else { return }
    let target = readAndCheck(Array(input.target))
    switch logits.dtype {
    case .float16: run(logits, as: Float16.self, target: target, options: options)
    case .bfloat16: run(logits, as: BFloat16.self, target: target, options: options)
    case .float32: run(logits, as: Float.self, target: target, options: options)
    case .float64: run(logits, as: Double.self, target: target, options: options)
    case .int32, .int64, .uint16: return
    }
}

/// Reads `bytes` as a `.npy` file and checks what a successful read promises: the count is the
/// product of the shape, and writing the file again and reading it back gives the same array.
/// Returns `nil` when the file is rejected or too large for the harness.
@discardableResult
private func readAndCheck(_ bytes: [UInt8]) -> NPYFile? {
    let file: NPYFile
    do {
        file = try NPYFile(bytes: bytes)
    } catch {
        if tracesCalls {
            print("  NPYFile(bytes:) of \(bytes.count) bytes: \(error)")
        }
        return nil
    }
    let product = file.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
    precondition(file.shape.allSatisfy { $0 >= 0 }, "negative dimension in \(file.shape)")
    precondition(file.count == (file.shape.contains(0) ? 0 : product), "count \(file.count) for \(file.shape)")
    if tracesCalls {
        print("  NPYFile(bytes:) of \(bytes.count) bytes: \(file.dtype) \(file.shape)")
    }
    guard file.count <= maximumElements else { return nil }
    let data = dataBytes(of: file)
    precondition(data.count == file.count * file.dtype.byteCount, "data length \(data.count) for \(file.shape)")
    let encoded = data.withUnsafeBytes { NPYWriter.encode($0, dtype: file.dtype, shape: file.shape) }
    guard let again = try? NPYFile(bytes: encoded) else {
        preconditionFailure("NPYWriter output for \(file.dtype) \(file.shape) is rejected by NPYFile")
    }
    precondition(again.dtype == file.dtype && again.shape == file.shape && dataBytes(of: again) == data)
    return file
}

/// The data of `file` as raw bytes.
private func dataBytes(of file: NPYFile) -> [UInt8] {
    switch file.dtype {
    case .float16: file.withUnsafeBufferPointer(of: Float16.self) { Array(UnsafeRawBufferPointer($0)) }
    case .float32: file.withUnsafeBufferPointer(of: Float.self) { Array(UnsafeRawBufferPointer($0)) }
    case .float64: file.withUnsafeBufferPointer(of: Double.self) { Array(UnsafeRawBufferPointer($0)) }
    case .int32: file.withUnsafeBufferPointer(of: Int32.self) { Array(UnsafeRawBufferPointer($0)) }
    case .int64: file.withUnsafeBufferPointer(of: Int64.self) { Array(UnsafeRawBufferPointer($0)) }
    case .bfloat16, .uint16: file.withUnsafeBufferPointer(of: UInt16.self) { Array(UnsafeRawBufferPointer($0)) }
    }
}

/// The elements of `file` converted to `T`; `file` must hold floating-point numbers.
private func floats<T: LogitsScalar>(of file: NPYFile, as type: T.Type) -> [T] {
    switch file.dtype {
    case .float16: file.withUnsafeBufferPointer(of: Float16.self) { $0.map { T($0) } }
    case .float32: file.withUnsafeBufferPointer(of: Float.self) { $0.map { T($0) } }
    case .float64: file.withUnsafeBufferPointer(of: Double.self) { $0.map { T($0) } }
    case .bfloat16: file.withUnsafeBufferPointer(of: BFloat16.self) { $0.map { T($0) } }
    case .int32, .int64, .uint16: []
    }
}

/// The target of the Tensor-based entry points: `target`'s data as class indices or probabilities.
private func tensorTarget<T: LogitsScalar>(_ target: NPYFile, as type: T.Type) -> CrossEntropyTarget<T> {
    switch target.dtype {
    case .int64:
        .classIndices(
            Tensor(shape: target.shape, scalars: target.withUnsafeBufferPointer(of: Int64.self) { Array($0) }))
    case .int32:
        .classIndices32(
            Tensor(shape: target.shape, scalars: target.withUnsafeBufferPointer(of: Int32.self) { Array($0) }))
    case .float16, .bfloat16, .float32, .float64, .uint16:
        .probabilities(Tensor(shape: target.shape, scalars: floats(of: target, as: T.self)))
    }
}

/// Calls `body` with `target` as a buffer target for logits of type `T` (probabilities converted to `T`).
private func withTargetBuffer<T: LogitsScalar>(
    _ target: NPYFile, as type: T.Type, _ body: (CrossEntropyTargetBuffer<T>) -> Void
) {
    switch target.dtype {
    case .int64:
        target.withUnsafeBufferPointer(of: Int64.self) { body(.classIndices($0, shape: target.shape)) }
    case .int32:
        target.withUnsafeBufferPointer(of: Int32.self) { body(.classIndices32($0, shape: target.shape)) }
    case .float16, .bfloat16, .float32, .float64, .uint16:
        floats(of: target, as: T.self).withUnsafeBufferPointer { body(.probabilities($0, shape: target.shape)) }
    }
}

/// The loss options the option bytes describe.
private func lossOptions(_ options: OptionBytes) -> CrossEntropyOptions {
    let flags = options.bytes[0]
    let reductions: [LossReduction] = [.mean, .sum, .none, .mean]
    var result = CrossEntropyOptions(reduction: reductions[Int(flags & 3)])
    if flags & 4 != 0 {
        let (even, odd) = (options.number(at: 19), options.number(at: 28))
        result.weight = (0..<Int(options.bytes[18])).map { $0 % 2 == 0 ? even : odd }
    }
    if flags & 8 != 0 {
        result.ignoreIndex = Int(options.int64(at: 1))
    }
    result.labelSmoothing = options.number(at: 9)
    return result
}

/// The upstream gradient the option bytes describe, for a loss of `rows` rows.
private func upstreamGradient(_ options: OptionBytes, rows: Int) -> UpstreamGradient {
    let flags = options.bytes[0]
    let value = options.number(at: 37)
    guard flags & 16 != 0 else { return .scalar(value) }
    let count = min(rows, maximumElements) + (flags & 32 != 0 ? 1 : 0)
    return .elements((0..<count).map { $0 % 3 == 2 ? -value : value })
}

/// The number of rows of logits of `shape`, or 0 when the shape is not valid for logits.
private func rowCount(_ shape: [Int]) -> Int {
    guard shape.count >= 2 else { return shape.isEmpty ? 0 : 1 }
    let (rows, overflow) = shape.enumerated().reduce((1, false)) { acc, item in
        guard item.offset != 1 else { return acc }
        let (product, o) = acc.0.multipliedReportingOverflow(by: item.element)
        return (product, acc.1 || o)
    }
    return overflow ? 0 : rows
}

/// Runs the primitives on `logits` read as `T` and, when there is a target, every loss entry point.
private func run<T: LogitsScalar>(_ logits: NPYFile, as type: T.Type, target: NPYFile?, options: OptionBytes) {
    let logitsTensor = Tensor(shape: logits.shape, scalars: logits.withUnsafeBufferPointer(of: T.self) { Array($0) })
    attempt("logSumExp") { _ = try engine.logSumExp(logitsTensor) }
    attempt("logSoftmax") { _ = try engine.logSoftmax(logitsTensor) }
    attempt("softmax") { _ = try engine.softmax(logitsTensor) }
    guard let target else { return }
    runLoss(logits, logitsTensor, target: target, options: options)
}

/// Runs every loss entry point on `logits` (also given as `logitsTensor`) and `target`.
private func runLoss<T: LogitsScalar>(
    _ logits: NPYFile, _ logitsTensor: Tensor<T>, target: NPYFile, options: OptionBytes
) {
    let settings = lossOptions(options)
    let upstream = upstreamGradient(options, rows: rowCount(logits.shape))
    let shape = logits.shape
    logits.withUnsafeBufferPointer(of: T.self) { logitsBuffer in
        withTargetBuffer(target, as: T.self) { targetBuffer in
            attempt("crossEntropy(logits:)") {
                _ = try engine.crossEntropy(logits: logitsBuffer, shape: shape, target: targetBuffer, options: settings)
            }
            var gradient = [T](repeating: 0, count: logitsBuffer.count)
            gradient.withUnsafeMutableBufferPointer { gradientBuffer in
                attempt("crossEntropyWithGradient(logits:)") {
                    _ = try engine.crossEntropyWithGradient(
                        logits: logitsBuffer, shape: shape, target: targetBuffer, options: settings,
                        upstream: upstream, gradientInto: gradientBuffer)
                }
            }
            var inPlace = Array(logitsBuffer)
            inPlace.withUnsafeMutableBufferPointer { inPlaceBuffer in
                attempt("crossEntropyWithGradient(inPlace:)") {
                    _ = try engine.crossEntropyWithGradient(
                        inPlace: inPlaceBuffer, shape: shape, target: targetBuffer, options: settings,
                        upstream: upstream)
                }
            }
        }
    }
    let target = tensorTarget(target, as: T.self)
    attempt("crossEntropy(Tensor)") { _ = try engine.crossEntropy(logitsTensor, target: target, options: settings) }
    attempt("crossEntropyWithGradient(Tensor)") {
        _ = try engine.crossEntropyWithGradient(logitsTensor, target: target, options: settings, upstream: upstream)
    }
    attempt("nllLoss") { _ = try engine.nllLoss(logitsTensor, target: target, options: settings) }
    if case .classIndices(let indices) = target {
        attempt("gather") { _ = try engine.gather(logitsTensor, classIndices: indices) }
    }
}
