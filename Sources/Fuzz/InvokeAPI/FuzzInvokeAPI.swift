// libFuzzer entry for FuzzTarget.invokeAPI (see Sources/HearthFuzzing). scripts/fuzz builds this with
// -sanitize=fuzzer and -DHEARTH_FUZZ, which supplies libFuzzer's main; an ordinary build gets
// a main that replays the files given as arguments.
import Foundation
import HearthFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTarget.invokeAPI.run(bytes, count)
}

#if !HEARTH_FUZZ
@main
enum Replay {
    static func main() {
        exit(FuzzTarget.invokeAPI.replay(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
