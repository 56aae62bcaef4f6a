import Foundation
import HearthFuzzing
import Testing

/// Replays every committed fuzz input (seed corpora and crash regressions) through its target
/// in the ordinary test run: a crash found by scripts/fuzz is saved under
/// Tests/Fuzz/<Target>/regressions and stays fixed.
@Suite("Fuzz corpora and regressions replay without crashing")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fuzz"

    static func inputs(_ target: FuzzTarget, _ kind: String) -> [String] {
        let folder = root + "/\(target.rawValue)/\(kind)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { folder + "/" + $0 }
    }

    @Test("every target has a seed corpus", arguments: FuzzTarget.allCases)
    func seedCorpusExists(_ target: FuzzTarget) {
        #expect(Self.inputs(target, "corpus").count >= 3, "Tests/Fuzz/\(target.rawValue)/corpus")
    }

    @Test("seed corpus and regressions replay", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        for file in Self.inputs(target, "corpus") + Self.inputs(target, "regressions") {
            let data = try #require(FileManager.default.contents(atPath: file), "\(file)")
            target.run(Array(data))  // a broken invariant or a crash stops the test process
        }
    }
}
