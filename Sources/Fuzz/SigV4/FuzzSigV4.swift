// libFuzzer entry for FuzzTarget.sigV4 (see Sources/HearthFuzzing). scripts/fuzz builds this with
// -sanitize=fuzzer -DHEARTH_FUZZ: SwiftPM renames an executable's main to FuzzSigV4_main, so
// that is defined here and hands over to libFuzzer's driver. An ordinary build gets a main
// that replays the files given as arguments.
import Foundation
import HearthFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTarget.sigV4.run(bytes, count)
}

#if HEARTH_FUZZ
import CHearthFuzzDriver

@_cdecl("FuzzSigV4_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in FuzzTarget.sigV4.run(data, size) }
}
#else
@main
enum Replay {
    static func main() {
        exit(FuzzTarget.sigV4.replay(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
