import Glibc

#if FUZZING
    /// libFuzzer's entry point: runs one input (see `fuzzOne`). Always returns 0.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    /// libFuzzer's driver (`int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*)(const uint8_t *,
    /// size_t))`): parses libFuzzer's flags from `argv` and fuzzes or replays with `callback`.
    @_silgen_name("LLVMFuzzerRunDriver")
    private func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// The built-in dictionary's temporary file, removed at exit; `nil` until it is written.
    nonisolated(unsafe) private var dictionaryPath: [CChar]?

    /// The fuzz build's entry point: hands the command line to libFuzzer's driver, adding
    /// `-dict=` with `fuzzDictionary` (written to a temporary file) unless a dictionary is given.
    ///
    /// SwiftPM links every Swift executable with its entry point renamed (`main=xent_fuzz_main`), so
    /// libFuzzer's own `main` cannot be used; this `main` does what libFuzzer's does.
    @main
    struct XentFuzz {
        /// Runs libFuzzer with the process's arguments and exits with its status.
        static func main() {
            var arguments = CommandLine.arguments
            if !arguments.contains(where: { $0.hasPrefix("-dict=") }), let path = writeDictionary() {
                arguments.append("-dict=" + path)
            }
            var argc = CInt(arguments.count)
            var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            let status = argv.withUnsafeMutableBufferPointer { buffer in
                var base = buffer.baseAddress!
                return runFuzzerDriver(&argc, &base) { data, size in
                    guard let data else { return 0 }
                    return fuzzOneInput(data, size)
                }
            }
            exit(status)
        }

        /// Writes `fuzzDictionary` to a new file in `$TMPDIR` (or `/tmp`), to be removed at exit,
        /// and returns its path; `nil` (after saying why) if it cannot be written.
        static func writeDictionary() -> String? {
            let folder = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            var template = Array("\(folder)/xent-fuzz-dict-XXXXXX".utf8CString)
            let descriptor = mkstemp(&template)
            let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard descriptor >= 0 else {
                print("xent-fuzz: cannot create \(path), running without a dictionary")
                return nil
            }
            dictionaryPath = template
            atexit {
                if let path = dictionaryPath {
                    unlink(path)
                }
            }
            var text = fuzzDictionary + "\n"
            let written = text.withUTF8 { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
            guard written == text.utf8.count else {
                print("xent-fuzz: cannot write \(path), running without a dictionary")
                return nil
            }
            return path
        }
    }
#else

    /// Replays fuzz inputs without libFuzzer: every file named on the command line, and every file
    /// under each folder named, runs through the same code as in the fuzz build, in sorted order.
    ///
    /// Exits 0 after printing how many files ran, or 2 when an argument cannot be read; a crash
    /// stops it on the input that caused it. With `-v`, each path is printed before it runs and
    /// each call's outcome after it.
    @main
    struct XentFuzzReplay {
        /// Replays the arguments.
        static func main() {
            var arguments = Array(CommandLine.arguments.dropFirst())
            let verbose = arguments.first == "-v"
            if verbose {
                arguments.removeFirst()
                tracesCalls = true
            }
            guard !arguments.isEmpty else {
                printError("usage: xent-fuzz [-v] FILE_OR_FOLDER...")
                exit(2)
            }
            var count = 0
            for argument in arguments {
                guard let paths = filePaths(under: argument) else {
                    printError("xent-fuzz: cannot read \(argument)")
                    exit(2)
                }
                for path in paths {
                    guard let bytes = readFile(path) else {
                        printError("xent-fuzz: cannot read \(path)")
                        exit(2)
                    }
                    if verbose {
                        print(path)
                        fflush(nil)
                    }
                    fuzzOne(bytes)
                    count += 1
                }
            }
            print("xent-fuzz: replayed \(count) inputs")
        }

        /// Writes `message` and a newline to standard error.
        static func printError(_ message: String) {
            var line = message + "\n"
            line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        }

        /// `path` itself if it is a regular file, every regular file under it (sorted) if it is a
        /// folder, or `nil` if it is neither.
        static func filePaths(under path: String) -> [String]? {
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            switch status.st_mode & S_IFMT {
            case S_IFREG:
                return [path]
            case S_IFDIR:
                guard let folder = opendir(path) else { return nil }
                var names: [String] = []
                while let entry = readdir(folder) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    if name != "." && name != ".." {
                        names.append(name)
                    }
                }
                closedir(folder)
                var paths: [String] = []
                for name in names.sorted() {
                    guard let inner = filePaths(under: path + "/" + name) else { return nil }
                    paths += inner
                }
                return paths
            default:
                return []
            }
        }

        /// The contents of the file at `path`, or `nil` if it cannot be read.
        static func readFile(_ path: String) -> [UInt8]? {
            guard let file = fopen(path, "rb") else { return nil }
            defer { fclose(file) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let read = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
                bytes += chunk[..<read]
                if read < chunk.count {
                    return ferror(file) == 0 ? bytes : nil
                }
            }
        }
    }
#endif
