import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// A status line on standard error for runs longer than a second, when standard error is a terminal:
/// it appears a second after the run starts, follows `update`, and is erased by `finish`. Elsewhere
/// (a pipe, a file, a test) it writes nothing, so the output contract is unchanged.
///
/// `@unchecked Sendable`: its state is read and written only on `queue`.
final class ProgressLine: @unchecked Sendable {
    private let queue = DispatchQueue(label: "xent.progress")
    private var text: String
    private var shown = false
    private var finished = false

    /// Starts the clock with `text` as the first status; draws nothing unless standard error is a terminal.
    init(_ text: String, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.text = text
        guard enabled else {
            finished = true
            return
        }
        queue.asyncAfter(deadline: .now() + 1) { [self] in
            guard !finished else { return }
            shown = true
            draw()
        }
    }

    /// Replaces the status.
    func update(_ text: String) {
        queue.sync {
            self.text = text
            if shown && !finished { draw() }
        }
    }

    /// Erases the line, if it was drawn; later updates draw nothing.
    func finish() {
        queue.sync {
            if shown && !finished { writeToStandardError("\r\u{1B}[K") }
            finished = true
        }
    }

    private func draw() {
        writeToStandardError("\r\u{1B}[K" + text)
    }
}
