import Foundation
import Testing
@testable import HearthRuntimeAPI

@Suite("TextFormat: printf's formats without Foundation")
struct TextFormatTests {
    @Test func hexAgreesWithPrintf() {
        var values: [UInt64] = [0, 1, 15, 16, 255, 0xdead_beef, UInt64(UInt32.max), UInt64.max]
        for _ in 0..<2000 { values.append(UInt64.random(in: 0...UInt64.max) >> UInt64.random(in: 0...63)) }
        for v in values {
            #expect(TextFormat.hex(v, width: 16) == String(format: "%016llx", v))
            #expect(TextFormat.hex(v, width: 8) == String(format: "%08llx", v))
            #expect(TextFormat.hex(v, width: 0) == String(format: "%llx", v))
        }
    }

    @Test func fixed2AgreesWithPrintfForDurations() {
        var values: [Double] = [0, 0.004, 0.005, 0.006, 0.01, 0.994, 0.995, 0.999, 1, 9.99, 10, 99.999, 1234.5678, 900_000]
        // Durations as Hearth measures them: nanoseconds / 1e6.
        for _ in 0..<5000 { values.append(Double(UInt64.random(in: 0...900_000_000_000)) / 1_000_000) }
        var differ = 0
        for v in values {
            let ours = TextFormat.fixed2(v), printf = String(format: "%.2f", v)
            if ours != printf {
                // Only where v * 100 lands on a binary tie: then a hundredth either way.
                differ += 1
                #expect(abs(Double(ours)! - Double(printf)!) <= 0.0100001, "\(v): \(ours) vs \(printf)")
            }
        }
        #expect(differ <= values.count / 100)
        #expect(TextFormat.fixed2(-1.5) == "-1.50")
        #expect(TextFormat.fixed2(0.05) == "0.05")
    }
}
