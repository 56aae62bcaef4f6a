// libFuzzer entry for FuzzTarget.sigV4 (see Sources/HearthFuzzing). scripts/fuzz builds this with
// -sanitize=fuzzer and -DHEARTH_FUZZ, which supplies libFuzzer's main; an ordinary build gets
// a main that replays the files given as arguments.
import Foundation
import HearthFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTarget.sigV4.run(bytes, count)
}

#if !HEARTH_FUZZ
@main
enum Replay {
    static func main() {
        exit(FuzzTarget.sigV4.replay(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
