import ArgumentParser
import CrossEntropy

/// `xent bench`: the median time of the loss (or loss and gradient) on random logits in memory, beside
/// the machine's read bandwidth (and, for the gradient, its copy bandwidth) measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Time the loss on random logits against a read-only pass over memory.",
        discussion: """
            EXAMPLES:
              xent bench --rows 8192 --classes 32768 --device cpu
              xent bench --rows 8192 --classes 32768 --backward --dtype bf16
              xent bench --rows 4096 --classes 32768 --linear --hidden-size 1024
            """)

    /// The logits' storage type.
    enum DType: String, CaseIterable, ExpressibleByArgument {
        case f32, f16, bf16
    }

    @Option(help: "Rows (N).")
    var rows: Int

    @Option(help: "Classes (C).")
    var classes: Int

    @OptionGroup var deviceOptions: DeviceOptions

    @OptionGroup var sharding: ShardingOptions

    @Flag(help: "Time the fused loss and gradient (written in the logits' type) instead of the loss alone.")
    var backward = false

    @Option(help: "Storage type of the logits.")
    var dtype: DType = .f32

    @Option(help: ArgumentHelp("z-loss scale of the timed loss (0: none).", valueName: "Z"))
    var zLossScale: Double = 0

    @Option(help: ArgumentHelp("Logit soft-capping of the timed loss (absent: none).", valueName: "S"))
    var softcap: Double?

    @Flag(help: "Time the fused linear cross-entropy forward and backward (rows N, classes V) instead.")
    var linear = false

    @Option(help: ArgumentHelp("Hidden size H of --linear.", valueName: "H"))
    var hiddenSize: Int?

    @Option(
        help: ArgumentHelp(
            "Rows per chunk of --linear (default: an eighth of the logits, within 16-128 MiB).", valueName: "R"))
    var chunkRows: Int?

    @Option(help: "Timed runs after one warm-up; the median is reported.")
    var `repeat` = 5

    @Flag(help: "Put the logits on the device before timing (device arrays): each call moves O(N) bytes.")
    var resident = false

    @Flag(
        help: """
            With --backward: the gradient overwrites the logits, as Liger Kernel's does. Each timed call then \
            runs on the gradient the call before left; the loss reported is the warm-up's, on the random logits.
            """)
    var inPlace = false

    @Flag(help: "Print one JSON object.")
    var json = false

    /// The loss's options: z-loss and soft-capping.
    var options: CrossEntropyOptions { CrossEntropyOptions(zLossScale: zLossScale, softcap: softcap) }

    func validate() throws {
        guard rows > 0, classes > 0 else { throw ValidationError("rows and classes must be positive") }
        guard `repeat` > 0 else { throw ValidationError("repeat must be positive") }
        do {
            try options.validate()
        } catch let error as CrossEntropyError {
            throw ValidationError(error.message)
        }
        guard rows.multipliedReportingOverflow(by: classes).overflow == false else {
            throw ValidationError("rows × classes is too large")
        }
        if linear {
            guard let hiddenSize, hiddenSize > 0 else { throw ValidationError("--linear needs --hidden-size H > 0") }
            guard dtype == .f32, !backward else {
                throw ValidationError("--linear times float32 forward and backward: no --dtype or --backward")
            }
            if let chunkRows, chunkRows < 1 { throw ValidationError("chunk rows must be at least 1") }
            if sharding.isSharded { throw ValidationError("--linear is not sharded") }
            if resident { throw ValidationError("--resident times the loss alone, not --linear") }
        } else if resident && sharding.isSharded {
            throw ValidationError("--resident is not sharded")
        } else if hiddenSize != nil || chunkRows != nil {
            throw ValidationError("--hidden-size and --chunk-rows belong to --linear")
        }
        if inPlace && (!backward || linear || sharding.isSharded) {
            throw ValidationError("--in-place times the fused loss and gradient: it needs --backward, alone")
        }
    }

    func run() throws {
        let engine = try deviceOptions.makeEngine()
        #if MPI
            if sharding.isSharded {
                try runSharded(engine)
                return
            }
        #endif
        if linear, let hiddenSize {
            let report = try LinearBench(
                rows: rows, classes: classes, hiddenSize: hiddenSize, chunkRows: chunkRows, repeat: `repeat`,
                options: options
            ).measure(engine)
            print(json ? report.json : report.text)
            return
        }
        let report =
            switch dtype {
            case .f32: try measure(Float.self, engine)
            case .f16: try measure(Float16.self, engine)
            case .bf16: try measure(BFloat16.self, engine)
            }
        if json {
            print(report.json)
        } else {
            print(report.text)
        }
    }

    /// Times the call and the read-only pass (and, with `--backward`, the copy) alternately, `repeat`
    /// times each after one warm-up of all, so that the medians come from the same stretch of time: the
    /// machine's bandwidth drifts with its neighbours' load, and probes timed after all the calls would
    /// measure another moment.
    private func measure<T: LogitsScalar>(_: T.Type, _ engine: CrossEntropyEngine) throws -> BenchReport {
        var random = RandomLogits(seed: 7)
        let logits = random.logits(count: rows * classes, as: T.self)
        let targets = random.classIndices(count: rows, classes: classes)
        let bytes = rows * classes * MemoryLayout<T>.stride
        let probe = [Float](repeating: 1, count: bytes / 4)
        var copyDestination = [Float](repeating: 0, count: backward ? probe.count : 0)
        let call = try resident ? residentCall(logits, targets, engine) : hostCall(logits, targets, engine)
        let deviceProbe = try engine.deviceMemoryProbe(bytes: bytes, for: T.dtype, copies: backward)
        var loss = Double.nan
        var times: [Double] = []
        var readTimes: [Double] = []
        var copyTimes: [Double] = []
        var deviceReadTimes: [Double] = []
        var uploadTimes: [Double] = []
        var deviceCopyTimes: [Double] = []
        // The calls' own traffic, without the probes' (the upload probe is a write like any other).
        var calls: [DeviceTraffic] = []
        let progress = ProgressLine("xent bench: warm-up")
        defer { progress.finish() }
        try probe.withUnsafeBufferPointer { probeBuffer in
            for run in 0...`repeat` {
                if run > 0 { progress.update("xent bench: run \(run) of \(`repeat`)") }
                let before = DeviceTraffic.total
                let seconds = try secondsElapsed {
                    let value = try call()
                    if run == 0 || !inPlace { loss = value }
                }
                let traffic = DeviceTraffic.total - before
                let readSeconds = MemoryBandwidth.read(probeBuffer).seconds
                let deviceReadSeconds = try deviceProbe?.readSeconds()
                let deviceCopySeconds = try deviceProbe?.copySeconds()
                let uploadSeconds = resident ? nil : try deviceProbe?.uploadSeconds()
                let copySeconds =
                    backward
                    ? copyDestination.withUnsafeMutableBufferPointer { MemoryBandwidth.copy(from: probeBuffer, to: $0) }
                    : 0
                if run > 0 {
                    calls.append(traffic)
                    times.append(seconds)
                    readTimes.append(readSeconds)
                    copyTimes.append(copySeconds)
                    deviceReadSeconds.map { deviceReadTimes.append($0) }
                    deviceCopySeconds.map { deviceCopyTimes.append($0) }
                    uploadSeconds.map { uploadTimes.append($0) }
                }
            }
        }
        return BenchReport(
            device: engine.device.name, rows: rows, classes: classes, dtype: dtype.rawValue,
            pass: backward ? "forward+backward" : "forward", resident: resident, medianSeconds: median(times),
            logitsGBps: Double(bytes) / median(times) / 1e9, readGBps: Double(bytes) / median(readTimes) / 1e9,
            copyGBps: backward ? Double(bytes) / median(copyTimes) / 1e9 : nil, loss: loss,
            hostToDeviceBytes: calls.map(\.hostToDeviceBytes).reduce(0, +) / `repeat`,
            deviceToHostBytes: calls.map(\.deviceToHostBytes).reduce(0, +) / `repeat`,
            kernelSeconds: engine.device.kind == .cpu
                ? nil : calls.map(\.kernelSeconds).reduce(0, +) / Double(`repeat`),
            deviceReadGBps: deviceProbe.map { Double($0.bytes) / median(deviceReadTimes) / 1e9 },
            deviceCopyGBps: deviceCopyTimes.isEmpty
                ? nil : deviceProbe.map { Double($0.bytes) / median(deviceCopyTimes) / 1e9 },
            hostToDeviceGBps: uploadTimes.isEmpty
                ? nil : deviceProbe.map { Double($0.uploadBytes) / median(uploadTimes) / 1e9 })
    }

    /// One timed call on logits in host memory (copied to the device inside the call, unless the device
    /// reads host memory in place); returns the loss.
    private func hostCall<T: LogitsScalar>(
        _ logits: [T], _ targets: [Int64], _ engine: CrossEntropyEngine
    ) -> () throws -> Double {
        var gradient = [T](repeating: 0, count: backward && !inPlace ? logits.count : 0)
        var overwritten = inPlace ? logits : []
        return { [backward, inPlace, rows, classes, options] in
            try logits.withUnsafeBufferPointer { logits in
                try targets.withUnsafeBufferPointer { targets in
                    if inPlace {
                        return Double(
                            try overwritten.withUnsafeMutableBufferPointer { logits in
                                try engine.crossEntropyWithGradient(
                                    inPlace: logits, shape: [rows, classes], target: .labels(targets), options: options)
                            }.loss.scalar)
                    }
                    guard backward else {
                        return Double(
                            try engine.crossEntropy(
                                logits: logits, shape: [rows, classes], target: .labels(targets), options: options
                            ).scalar)
                    }
                    return Double(
                        try gradient.withUnsafeMutableBufferPointer { gradient in
                            try engine.crossEntropyWithGradient(
                                logits: logits, shape: [rows, classes], target: .labels(targets), options: options,
                                gradientInto: gradient)
                        }.loss.scalar)
                }
            }
        }
    }

    /// One timed call on logits already on the device (uploaded once, before timing), the gradient left
    /// there; returns the loss.
    private func residentCall<T: LogitsScalar>(
        _ logits: [T], _ targets: [Int64], _ engine: CrossEntropyEngine
    ) throws -> () throws -> Double {
        let deviceLogits = try engine.makeDeviceArray(logits)
        let deviceGradient =
            inPlace ? deviceLogits : backward ? try engine.makeDeviceArray(count: logits.count, of: T.self) : nil
        let target = CrossEntropyTarget<T>.classIndices(Tensor(targets))
        return { [rows, classes, options] in
            guard let deviceGradient else {
                return Double(
                    try engine.crossEntropy(deviceLogits, shape: [rows, classes], target: target, options: options)
                        .scalar)
            }
            return Double(
                try engine.crossEntropyWithGradient(
                    deviceLogits, shape: [rows, classes], target: target, options: options,
                    gradientInto: deviceGradient
                ).loss.scalar)
        }
    }
}

/// The median of `values`.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// One benchmark result, in the command-line contract's JSON form or as text.
struct BenchReport {
    var device: String
    var rows: Int
    var classes: Int
    var dtype: String
    var pass: String
    /// Whether the logits were on the device before timing.
    var resident: Bool
    var medianSeconds: Double
    var logitsGBps: Double
    var readGBps: Double
    /// GB/s of a copy with streamed stores, counted by the bytes read (the loss and gradient's limit);
    /// `nil` for the forward loss.
    var copyGBps: Double?
    var loss: Double
    /// Bytes copied to and from the device per call, counted by the OpenCL host layer.
    var hostToDeviceBytes: Int
    var deviceToHostBytes: Int
    /// The kernels' device time per call; `nil` on the CPU fallback.
    var kernelSeconds: Double?
    /// GB/s of a read-only pass over device memory of the logits' size (a probe kernel, timed by the
    /// device in the same run); `nil` on the CPU fallback.
    var deviceReadGBps: Double?
    /// GB/s of a copy of device memory of the logits' size into another buffer (a probe kernel timed by
    /// the device in the same run, counted by the bytes read), with `--backward` on an OpenCL device; else
    /// `nil`.
    var deviceCopyGBps: Double?
    /// GB/s of a blocking upload from pinned host memory to the device (at most 256 MiB, timed in the same
    /// run), for host input on an OpenCL device; else `nil`.
    var hostToDeviceGBps: Double?

    var fractionOfRead: Double { logitsGBps / readGBps }

    var json: String {
        let lossValue = loss.isFinite ? formatted(loss, "%.9g") : "null"
        return """
            {"device": \(jsonString(device)), "rows": \(rows), "classes": \(classes), "dtype": "\(dtype)", \
            "pass": "\(pass)", "median_seconds": \(formatted(medianSeconds, "%.6g")), \
            "logits_gbps": \(formatted(logitsGBps, "%.4g")), "read_gbps": \(formatted(readGBps, "%.4g")), \
            "fraction_of_read": \(formatted(fractionOfRead, "%.4g")), \(copyFields)"loss": \(lossValue), \
            "resident": \(resident), "host_to_device_bytes": \(hostToDeviceBytes), \
            "device_to_host_bytes": \(deviceToHostBytes), \
            "kernel_seconds": \(kernelSeconds.map { formatted($0, "%.6g") } ?? "null"), \
            "device_read_gbps": \(deviceReadGBps.map { formatted($0, "%.4g") } ?? "null"), \
            "fraction_of_device_read": \(deviceReadGBps.map { formatted(logitsGBps / $0, "%.4g") } ?? "null"), \
            "device_copy_gbps": \(deviceCopyGBps.map { formatted($0, "%.4g") } ?? "null"), \
            "fraction_of_device_copy": \(deviceCopyGBps.map { formatted(logitsGBps / $0, "%.4g") } ?? "null"), \
            "host_to_device_gbps": \(hostToDeviceGBps.map { formatted($0, "%.4g") } ?? "null"), \
            "fraction_of_host_to_device": \(hostToDeviceGBps.map { formatted(logitsGBps / $0, "%.4g") } ?? "null")}
            """
    }

    /// `, 0.62 of the 18.0 GB/s copy bandwidth` with a copy measured, else nothing.
    private var copyText: String {
        guard let copyGBps else { return "" }
        return ", \(formatted(logitsGBps / copyGBps, "%.2f")) of the \(formatted(copyGBps, "%.1f")) GB/s copy bandwidth"
    }

    /// `"copy_gbps": …, "fraction_of_copy": …, ` with a copy measured, else nothing.
    private var copyFields: String {
        guard let copyGBps else { return "" }
        return "\"copy_gbps\": \(formatted(copyGBps, "%.4g")), "
            + "\"fraction_of_copy\": \(formatted(logitsGBps / copyGBps, "%.4g")), "
    }

    var text: String {
        """
        \(pass) \(rows) × \(classes) \(dtype) on \(device): \(formatted(medianSeconds * 1e3, "%.2f")) ms median, \
        \(formatted(logitsGBps, "%.1f")) GB/s of logits = \(formatted(fractionOfRead, "%.2f")) of the \
        \(formatted(readGBps, "%.1f")) GB/s read bandwidth\(copyText); loss \(formatted(loss, "%.6f"))\(trafficText)
        """
    }

    /// `; per call 0 B to the device, 12 B back, 1.23 ms of kernels (resident)`, or nothing on the CPU.
    private var trafficText: String {
        guard let kernelSeconds else { return "" }
        let deviceRead = deviceReadGBps.map { "; device memory read at \(formatted($0, "%.1f")) GB/s" } ?? ""
        return "; per call \(hostToDeviceBytes) B to the device, \(deviceToHostBytes) B back, "
            + "\(formatted(kernelSeconds * 1e3, "%.2f")) ms of kernels\(resident ? " (resident)" : "")\(deviceRead)"
    }
}
