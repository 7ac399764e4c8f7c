import NPY
import Testing

/// Replays the libFuzzer corpus of `xent-fuzz` (kept in `FuzzCorpus` beside this file) through the
/// `.npy` reader: every file must be read or rejected with an `NPYError`, never crash.
///
/// A combined input (logits, the marker `\n#XENT#\n`, 63 option bytes, target; see
/// `Fuzz/xent-fuzz/FuzzInput.swift`) is also read part by part. The loss part of the corpus is
/// replayed by the normal build of `xent-fuzz` (`swift run xent-fuzz Tests/NPYTests/FuzzCorpus`).
@Suite struct FuzzCorpusReplayTests {
    /// The corpus folder.
    static let folder: String = {
        let file = "\(#filePath)"
        return String(file[..<(file.lastIndex(of: "/") ?? file.startIndex)]) + "/FuzzCorpus"
    }()

    /// The separator between the logits file and the options of a combined input.
    static let marker: [UInt8] = Array("\n#XENT#\n".utf8)

    /// The number of option bytes after the marker.
    static let optionsLength = 63

    @Test func corpusIsNotEmpty() {
        #expect(!folderEntries(Self.folder).isEmpty, "no corpus files in \(Self.folder)")
    }

    @Test func everyCorpusFileIsReadOrRejected() throws {
        for name in folderEntries(Self.folder) {
            let bytes = try readFile(Self.folder + "/" + name)
            Self.readOrReject(bytes, name: name)
            if let split = Self.firstIndex(of: Self.marker, in: bytes) {
                Self.readOrReject(Array(bytes[..<split]), name: name + " (logits part)")
                let targetStart = min(bytes.count, split + Self.marker.count + Self.optionsLength)
                Self.readOrReject(Array(bytes[targetStart...]), name: name + " (target part)")
            }
        }
    }

    /// Reads `bytes`, checking that a file that is accepted is self-consistent and that one that
    /// is rejected is rejected with an `NPYError`.
    static func readOrReject(_ bytes: [UInt8], name: String) {
        do {
            let file = try NPYFile(bytes: bytes)
            let expectedCount = file.shape.contains(0) ? 0 : file.shape.reduce(1, *)
            #expect(file.count == expectedCount, "\(name): count \(file.count) for shape \(file.shape)")
            #expect(dataBytes(of: file).count == file.count * file.dtype.byteCount, "\(name)")
        } catch is NPYError {
            // Rejected, as most fuzz inputs are.
        } catch {
            Issue.record("\(name): expected an NPYError, got \(error)")
        }
    }

    /// The first index at which `needle` occurs in `haystack`.
    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<start + needle.count].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
