#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Logits viewed as PyTorch lays them out: `(outer, classes, inner)`, with the class dimension 1.
/// Row `r` is `(n, k)` with `n = r / inner`, `k = r % inner`; its classes lie `inner` elements apart.
struct RowLayout: Equatable {
    /// `N` (1 for unbatched `(C)` logits).
    var outer: Int
    /// `C`.
    var classes: Int
    /// `d1 · … · dk` (1 for `(N, C)`).
    var inner: Int
    /// The shape of one value per row: `[]` for `(C)` logits, else `[N, d1, …, dk]`.
    var rowShape: [Int]

    /// The number of rows, `N · d1 · … · dk`.
    var rows: Int { outer * inner }

    /// Reads a logits shape, checking it against the number of elements given.
    init(logitsShape shape: [Int], count: Int) throws {
        guard !shape.isEmpty else {
            throw CrossEntropyError(.invalidShape, "logits must have at least one dimension (C), got a scalar")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw CrossEntropyError(.invalidShape, "logits shape \(shape) has a negative dimension")
        }
        let (total, overflow) = shape.reduce((1, false)) { acc, dim in
            let (product, o) = acc.0.multipliedReportingOverflow(by: dim)
            return (product, acc.1 || o)
        }
        guard !overflow, total == count else {
            throw CrossEntropyError(
                .invalidShape,
                "logits shape \(shape) needs \(overflow ? "too many" : "\(total)") elements, got \(count)")
        }
        if shape.count == 1 {
            (outer, classes, inner, rowShape) = (1, shape[0], 1, [])
        } else {
            outer = shape[0]
            classes = shape[1]
            // With no classes the logits hold no data, and the rows can outnumber any memory.
            let (product, overflow) = shape.dropFirst(2).reduce((shape[0], false)) { acc, dim in
                let (next, o) = acc.0.multipliedReportingOverflow(by: dim)
                return (next, acc.1 || o)
            }
            guard !overflow, product <= Self.maxRows else {
                throw CrossEntropyError(
                    .invalidShape, "logits shape \(shape) has more rows than this machine's memory can hold results for"
                )
            }
            inner = shape.dropFirst(2).reduce(1, *)
            rowShape = [shape[0]] + shape.dropFirst(2)
        }
    }

    /// The most rows a call takes: one 8-byte result per row must fit in physical memory.
    static let maxRows: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return Int.max / 64 }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
        return overflow ? Int.max / 64 : bytes / 8
    }()
}

extension RowLayout {
    /// The rows of the `outer` blocks in `blocks`.
    func rows(of blocks: Range<Int>) -> Range<Int> {
        (blocks.lowerBound * inner)..<(blocks.upperBound * inner)
    }

    /// The elements of the `outer` blocks in `blocks`.
    func elements(of blocks: Range<Int>) -> Range<Int> {
        let block = classes * inner
        return (blocks.lowerBound * block)..<(blocks.upperBound * block)
    }
}
