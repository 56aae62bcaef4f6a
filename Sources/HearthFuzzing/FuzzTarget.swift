import Foundation

/// One fuzz target: takes any bytes, must neither crash nor hang, and checks its own
/// invariants with `FuzzCheck.require` (a failed invariant is a crash libFuzzer reports).
///
/// Each target has a libFuzzer executable (Sources/Fuzz/<Name>, built by scripts/fuzz with
/// `-sanitize=fuzzer`), a seed corpus in Tests/Fuzz/<Name>/corpus and crash regressions in
/// Tests/Fuzz/<Name>/regressions, which HearthFuzzTests replays in the ordinary test run.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case runtimeAPI = "RuntimeAPI"
    case invokeAPI = "InvokeAPI"
    case sigV4 = "SigV4"
    case zip = "Zip"
    case tar = "Tar"

    public func run(_ data: [UInt8]) {
        switch self {
        case .runtimeAPI: FuzzRuntimeAPI.run(data)
        case .invokeAPI: FuzzInvokeAPI.run(data)
        case .sigV4: FuzzSigV4.run(data)
        case .zip: FuzzZip.run(data)
        case .tar: FuzzTar.run(data)
        }
    }

    /// The libFuzzer entry point's body.
    public func run(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
        run(count > 0 && bytes != nil ? Array(UnsafeBufferPointer(start: bytes, count: count)) : [])
        return 0
    }

    /// Without libFuzzer: runs each file (or each file in each folder) given as an argument
    /// once, so that `swift run FuzzZip Tests/Fuzz/Zip/corpus` replays a corpus.
    public func replay(_ arguments: [String]) -> Int32 {
        var files: [String] = []
        for path in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("fuzz \(rawValue): no such file \(path)\n".utf8))
                return 2
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            run(Array(data))
        }
        print("fuzz \(rawValue): replayed \(files.count) inputs (built without -sanitize=fuzzer; scripts/fuzz fuzzes)")
        return 0
    }
}

/// Invariant checks inside fuzz targets.
enum FuzzCheck {
    static func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                        file: StaticString = #fileID, line: UInt = #line) {
        if !condition() { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
    }
}

/// Splits input into lines (for targets that build structured requests from text).
extension Array where Element == UInt8 {
    func fuzzLines() -> [String] {
        split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }
}
