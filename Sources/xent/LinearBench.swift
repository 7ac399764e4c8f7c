import CrossEntropy

#if canImport(Glibc)
    import Glibc
#endif

/// `xent bench --linear`: the fused linear cross-entropy's forward and backward on random float32 inputs,
/// beside the same BLAS's three GEMMs of one chunk timed in the same run, and the resident memory the
/// call takes above its inputs and gradients.
struct LinearBench {
    var rows: Int
    var classes: Int
    var hiddenSize: Int
    var chunkRows: Int?
    var `repeat`: Int
    var options: CrossEntropyOptions

    /// Flops of a forward and backward: three GEMMs of 2·N·H·V each.
    var flops: Double { 6 * Double(rows) * Double(hiddenSize) * Double(classes) }

    func measure(_ engine: CrossEntropyEngine) throws -> LinearBenchReport {
        var random = RandomLogits(seed: 11)
        // Logits X·Wᵀ of magnitude about 4, as the forward benchmark's.
        let scale = Float(2) / Float(hiddenSize).squareRoot()
        let hidden = random.logits(count: rows * hiddenSize, as: Float.self).map { $0 * scale / 2 }
        let weight = random.logits(count: classes * hiddenSize, as: Float.self).map { $0 * scale / 2 }
        let targets = random.classIndices(count: rows, classes: classes)
        let chunking = chunkRows.map { LinearChunking.rows($0) } ?? .default
        let chunk = min(rows, chunking.rows(classes: classes, bytesPerElement: 4, totalRows: rows))
        let chunkGEMMs = try engine.chunkGEMMs(rows: chunk, hiddenSize: hiddenSize, classes: classes, as: Float.self)
        let gradientBytes = (rows * hiddenSize + classes * hiddenSize) * 4
        var times: [Double] = []
        var gemmTimes: [Double] = []
        var peakExtra = 0
        var loss = Double.nan
        try hidden.withUnsafeBufferPointer { hidden in
            try weight.withUnsafeBufferPointer { weight in
                try targets.withUnsafeBufferPointer { targets in
                    for run in 0...`repeat` {
                        ResidentMemory.resetPeak()
                        let before = ResidentMemory.current
                        let seconds = try secondsElapsed {
                            let result = try engine.linearCrossEntropy(
                                hidden: hidden, hiddenShape: [rows, hiddenSize], linearWeight: weight,
                                linearWeightShape: [classes, hiddenSize], target: targets, targetShape: [rows],
                                options: options, chunking: chunking)
                            loss = Double(result.loss.scalars[0])
                        }
                        let extra = ResidentMemory.peak - before - gradientBytes
                        // The chunk's GEMMs, once per chunk of the call.
                        let gemmSeconds = try secondsElapsed { try chunkGEMMs() } * Double(rows) / Double(chunk)
                        if run > 0 {
                            times.append(seconds)
                            gemmTimes.append(gemmSeconds)
                            peakExtra = max(peakExtra, extra)
                        }
                    }
                }
            }
        }
        return LinearBenchReport(
            device: engine.device.name, rows: rows, classes: classes, hiddenSize: hiddenSize, chunkRows: chunk,
            medianSeconds: median(times), gflops: flops / median(times) / 1e9,
            sgemmGflops: flops / median(gemmTimes) / 1e9, peakExtraBytes: peakExtra, loss: loss)
    }
}

/// One `bench --linear` result, in the command-line contract's JSON form or as text.
struct LinearBenchReport {
    var device: String
    var rows: Int
    var classes: Int
    var hiddenSize: Int
    var chunkRows: Int
    var medianSeconds: Double
    var gflops: Double
    var sgemmGflops: Double
    var peakExtraBytes: Int
    var loss: Double

    var fractionOfSGEMM: Double { gflops / sgemmGflops }

    var json: String {
        let lossValue = loss.isFinite ? formatted(loss, "%.9g") : "null"
        return """
            {"device": \(jsonString(device)), "rows": \(rows), "classes": \(classes), "hidden_size": \(hiddenSize), \
            "dtype": "f32", "pass": "linear forward+backward", "chunk_rows": \(chunkRows), \
            "median_seconds": \(formatted(medianSeconds, "%.6g")), "gflops": \(formatted(gflops, "%.4g")), \
            "sgemm_gflops": \(formatted(sgemmGflops, "%.4g")), \
            "fraction_of_sgemm": \(formatted(fractionOfSGEMM, "%.4g")), "peak_extra_bytes": \(peakExtraBytes), \
            "loss": \(lossValue)}
            """
    }

    var text: String {
        """
        linear forward+backward N \(rows) H \(hiddenSize) V \(classes) (chunks of \(chunkRows) rows) on \(device): \
        \(formatted(medianSeconds, "%.3f")) s median, \(formatted(gflops, "%.1f")) GFLOP/s = \
        \(formatted(fractionOfSGEMM, "%.2f")) of the chunk GEMMs' \(formatted(sgemmGflops, "%.1f")) GFLOP/s; \
        \(formatted(Double(peakExtraBytes) / 1e6, "%.0f")) MB resident above inputs and gradients; \
        loss \(formatted(loss, "%.6f"))
        """
    }
}

/// The process's resident memory, from `/proc/self/status` (Linux): the current size, and the peak since
/// the last `resetPeak()` (by `/proc/self/clear_refs`).
enum ResidentMemory {
    /// Bytes resident now (VmRSS).
    static var current: Int { field("VmRSS:") }
    /// The most bytes resident since the last reset (VmHWM).
    static var peak: Int { field("VmHWM:") }

    /// Makes the peak the current size.
    static func resetPeak() {
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return }
        _ = write(descriptor, "5", 1)
        close(descriptor)
    }

    /// A `kB` line of `/proc/self/status`, in bytes (0 where there is none).
    private static func field(_ name: String) -> Int {
        guard let file = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix(name) {
                return (Int(text.dropFirst(name.count).filter(\.isNumber)) ?? 0) * 1024
            }
        }
        return 0
    }
}
